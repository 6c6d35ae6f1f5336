"""The dashboard page (a Streamlit script): `spotify-bulk dashboard` serves it on localhost.

Every page run opens the published warehouse read-only and closes it at the end, so a build that
publishes a new warehouse meanwhile is picked up on the next refresh and never blocked.
"""

from __future__ import annotations

from contextlib import closing

import duckdb
import streamlit as st

from pipeline.config import Settings, load_settings
from pipeline.dashboard import queries, sections
from pipeline.dates import DateWindow, utc_today
from pipeline.errors import UsageError
from pipeline.ingest.status import LakeStatus, lake_status
from pipeline.layout import Layout
from pipeline.warehouse.options import WarehouseOptions
from pipeline.warehouse.query import connect_readonly


def main() -> None:
    st.set_page_config(page_title="Spotify Bulk dashboard", page_icon=":material/equalizer:", layout="wide")
    st.title("Spotify Bulk dashboard")
    settings = load_settings()
    layout = Layout(settings.lake_dir)
    try:
        con = connect_readonly(layout, WarehouseOptions.from_settings(settings))
    except UsageError:
        sections.no_warehouse(layout.warehouse_path)
        return
    with closing(con):
        options = queries.filter_options(con)
        if options is None:
            sections.no_streams(layout.warehouse_path)
            return
        filters = sections.sidebar(options, queries.build_info(con), layout.warehouse_path)
        try:
            if render(con, filters):
                sections.data_health(health(layout, filters, settings))
        except duckdb.IOException:
            # A build removed an old snapshot while this page was reading it: the next run sees the new one.
            st.warning("The warehouse was rebuilt while this page was loading: refresh to see the new data.")


def health(layout: Layout, filters: queries.Filters, settings: Settings) -> LakeStatus:
    """The lake's status for the page's licensors and days (read from the data directory)."""
    return lake_status(
        layout,
        filters.licensors,
        DateWindow(filters.start, filters.end),
        today=utc_today(),
        lookback_days=settings.lookback_days,
        first_day=settings.start_date,
    )


def render(con: duckdb.DuckDBPyConnection, filters: queries.Filters) -> bool:
    """The warehouse sections; False when nothing matches the filters."""
    daily = sections.headline(con, filters)
    if daily is None:
        return False
    available = queries.catalog_availability(con)
    sections.overview(daily)
    sections.top_tracks(con, filters)
    sections.countries(con, filters)
    sections.demographics(con, filters)
    sections.sources(con, filters)
    sections.playlists(con, filters, available)
    sections.artists(con, filters, available)
    sections.artificial_streaming(con, filters)
    return True


main()
