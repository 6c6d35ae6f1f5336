"""The dashboard's sections: each runs its queries and lays out tables and charts with Streamlit.

Numbers are formatted by the table and chart configs (thousands separators, percentages), so the
frames stay numeric and sortable. Sections that need the Web API catalog say what to run instead
of failing when the warehouse does not have it yet.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any

import duckdb
import polars as pl
import streamlit as st

from pipeline.dashboard import charts, queries
from pipeline.dashboard.queries import BuildInfo, CatalogAvailability, Filters, Options
from pipeline.ingest.status import LakeStatus

LOAD_HINT = (
    "Load some data, then build the warehouse:\n\n"
    "```bash\n"
    "uv run spotify-bulk demo          # everything on the embedded emulator, in one command\n"
    "# or, with real credentials:\n"
    "uv run spotify-bulk load --licensor LICENSOR --date yesterday\n"
    "uv run spotify-bulk build\n"
    "```\n\n"
    "Then refresh this page."
)
ENRICH_HINT = "Run `uv run spotify-bulk enrich`, then `uv run spotify-bulk build`, and refresh this page."


def _count(label: str, help: str | None = None) -> Any:
    return st.column_config.NumberColumn(label, format="%,d", help=help)


def _share(label: str, help: str | None = None) -> Any:
    return st.column_config.NumberColumn(label, format="percent", help=help)


def _table(frame: pl.DataFrame, columns: dict[str, Any], *, height: int | str = "auto") -> None:
    """Show only the configured columns, in that order, with their labels and number formats."""
    st.dataframe(
        frame.select(list(columns)),
        column_config=columns,
        hide_index=True,
        width="stretch",
        height=height,  # type: ignore[arg-type]
    )


def no_warehouse(warehouse: Path) -> None:
    st.info(f"**No warehouse yet** at `{warehouse}`.\n\n{LOAD_HINT}", icon=":material/database:")


def no_streams(warehouse: Path) -> None:
    st.info(
        f"**The warehouse at `{warehouse}` has no streams yet.**\n\n{LOAD_HINT}", icon=":material/database:"
    )


def sidebar(options: Options, build: BuildInfo | None, warehouse: Path) -> Filters:
    """The filters (empty licensor or country selections mean all), and which build is shown."""
    default = options.default_filters()
    with st.sidebar:
        st.header("Filters")
        licensors = st.multiselect(
            "Licensor", options.licensors, key="licensors", placeholder="All licensors"
        )
        picked = st.date_input(
            "Dates",
            value=(default.start, default.end),
            min_value=options.first_day,
            max_value=options.last_day,
            key="dates",
        )
        names = dict(options.countries)
        countries = st.multiselect(
            "Country",
            list(names),
            format_func=lambda code: f"{names[code]} ({code})",
            key="countries",
            placeholder="All countries",
        )
        search = st.text_input("Track or artist", key="search", placeholder="name contains...")
        st.divider()
        if build is not None:
            built = f"{build.built_at:%Y-%m-%d %H:%M} UTC" if build.built_at else "unknown"
            st.caption(f"Warehouse built {built}; data {options.first_day} to {options.last_day}.")
        st.caption(
            "Read-only; refresh the page after a build to see new data.", help=f"Reading `{warehouse}`"
        )
    start, end = _date_range(picked, default)
    return Filters(
        start=start, end=end, licensors=tuple(licensors), countries=tuple(countries), search=search or ""
    )


def _date_range(picked: Any, default: Filters) -> tuple[date, date]:
    """The date input gives one date while the reader is still picking the second."""
    days = [d for d in (picked if isinstance(picked, tuple | list) else (picked,)) if isinstance(d, date)]
    if not days:
        return default.start, default.end
    return min(days), max(days)


def headline(con: duckdb.DuckDBPyConnection, filters: Filters) -> pl.DataFrame | None:
    """Totals for the selection; returns the daily frame, or None (with a note) when nothing matches."""
    daily = queries.daily_streams(con, filters)
    total = queries.totals(con, filters)
    if total.streams == 0:
        st.info(
            "**No streams match these filters.** Widen the date range, pick another licensor, or clear "
            "the country or search filter.",
            icon=":material/filter_alt_off:",
        )
        return None
    cols = st.columns(5)
    cols[0].metric("Streams", total.streams, format="%,d", help="Streams of 30 s or more")
    cols[1].metric("Listeners", total.listeners, format="%,d", help="Distinct users over the whole period")
    cols[2].metric("Tracks streamed", total.tracks, format="%,d")
    cols[3].metric("Countries", total.countries, format="%,d")
    latest = queries.latest_day_change(daily)
    if latest:
        day, streams, change = latest
        delta = None if change is None else f"{change:+,} vs. the day before"
        cols[4].metric(f"Streams on {day:%b %d}", streams, delta=delta, format="%,d")
    return daily


def overview(daily: pl.DataFrame) -> None:
    st.subheader("Streams and listeners over time")
    left, right = st.columns(2)
    left.altair_chart(
        charts.over_time(daily, x="date", y="streams", color="licensor", title="Streams per day"),
        width="stretch",
    )
    right.altair_chart(
        charts.over_time(daily, x="date", y="listeners", color="licensor", title="Listeners per day"),
        width="stretch",
    )
    with st.expander("Day-over-day change", expanded=False):
        _table(
            daily.sort(["date", "licensor"], descending=[True, False]),
            {
                "date": st.column_config.DateColumn("Date", format="YYYY-MM-DD"),
                "licensor": "Licensor",
                "streams": _count("Streams"),
                "listeners": _count("Listeners"),
                "streams_dod_change": _count("Change", help="Streams minus the day before's"),
                "streams_dod_change_pct": _share("Change %", help="Empty when the day before has no streams"),
            },
        )


def top_tracks(con: duckdb.DuckDBPyConnection, filters: Filters) -> None:
    st.subheader("Top tracks")
    _table(
        queries.top_tracks(con, filters),
        {
            "rank": st.column_config.NumberColumn("#", format="%d", width="small"),
            "track_name": st.column_config.TextColumn("Track", width="medium"),
            "artists": st.column_config.TextColumn("Artists", width="medium"),
            "licensor": "Licensor",
            "streams": _count("Streams"),
            "sub30_share": _share("Sub-30 share", help="Streams under 30 s / all streams"),
            "skip_rate": _share("Skip rate", help="Skips / streams (Aggregated Streams)"),
            "save_rate": _share("Save rate", help="Saves / streams (Aggregated Streams)"),
        },
        height=400,
    )


def countries(con: duckdb.DuckDBPyConnection, filters: Filters) -> None:
    st.subheader("Countries")
    frame = queries.countries(con, filters)
    left, right = st.columns([3, 2])
    with left:
        _table(
            frame,
            {
                "country_name": "Country",
                "country": st.column_config.TextColumn("Code", width="small"),
                "region": "Region",
                "streams": _count("Streams"),
                "share": _share("Share"),
                "skip_rate": _share("Skip rate"),
                "save_rate": _share("Save rate"),
            },
            height=400,
        )
    right.altair_chart(
        charts.bars(frame.head(15), category="country_name", value="streams", title="Top 15 countries"),
        width="stretch",
    )


def demographics(con: duckdb.DuckDBPyConnection, filters: Filters) -> None:
    st.subheader("Demographics")
    frame = queries.demographics(con, filters)
    if frame.is_empty():
        st.caption("No Aggregated Streams demographics for this selection.")
        return
    frame, without = queries.with_breakdown(frame)
    if frame.is_empty():
        st.caption(queries.NO_BREAKDOWN)
        return
    if without:
        st.caption(
            f"{without:.1%} of streams have no demographic breakdown (country totals only): not shown."
        )
    left, right = st.columns(2)
    left.altair_chart(
        charts.bars(
            frame,
            category="age_group",
            value="streams",
            color="gender",
            sort_by_value=False,
            title="Streams by age group and gender",
        ),
        width="stretch",
    )
    matrix = queries.demographics_matrix(frame)
    genders = [c for c in matrix.columns if c != "age_group"]
    with right:
        st.caption("Share of all streams")
        labels = {g: _share(g.replace("_", " ").title()) for g in genders}
        _table(matrix, {"age_group": "Age group", **labels})


def sources(con: duckdb.DuckDBPyConnection, filters: Filters) -> None:
    st.subheader("Sources")
    frame = queries.sources(con, filters)
    left, right = st.columns(2)
    left.altair_chart(
        charts.bars(
            queries.source_groups(frame), category="source_group", value="streams", title="Streams by source"
        ),
        width="stretch",
    )
    with right:
        _table(
            frame,
            {
                "source": "Source",
                "source_group": "Group",
                "streams": _count("Streams"),
                "share": _share("Share"),
            },
        )


def playlists(con: duckdb.DuckDBPyConnection, filters: Filters, available: CatalogAvailability) -> None:
    st.subheader("Top playlists")
    frame = queries.top_playlists(con, filters, with_catalog=available.playlists)
    if frame.is_empty():
        st.caption("No streams from playlists in this selection.")
        return
    if not available.playlists or frame["playlist_name"].is_null().all():
        st.info(
            f"Playlist names, owners and followers come from the Web API catalog. {ENRICH_HINT}",
            icon=":material/info:",
        )
    frame = frame.with_columns(pl.col("playlist_name").fill_null(pl.col("playlist_id")))
    _table(
        frame,
        {
            "rank": st.column_config.NumberColumn("#", format="%d", width="small"),
            "playlist_name": st.column_config.TextColumn("Playlist", width="medium"),
            "owner_name": "Owner",
            "followers": _count("Followers", help="Current followers (Web API)"),
            "licensor": "Licensor",
            "streams": _count("Streams"),
            "listeners": _count("Listeners"),
            "tracks": _count("Tracks"),
        },
    )


def artists(con: duckdb.DuckDBPyConnection, filters: Filters, available: CatalogAvailability) -> None:
    st.subheader("Artist popularity and followers")
    history = queries.artist_history(con, filters) if available.artists else pl.DataFrame()
    if history.is_empty():
        st.info(
            f"Artist popularity and followers over time come from the Web API catalog. {ENRICH_HINT}",
            icon=":material/info:",
        )
        return
    if all(history[c].null_count() == len(history) for c in ("popularity", "followers")):
        st.info(
            "The Web API gives this app no artist popularity or followers (a development-mode app); "
            "names, artists and genres in the other sections are complete.",
            icon=":material/info:",
        )
        return
    st.caption("Artists of the most-streamed tracks in this selection, on each day the catalog was enriched.")
    for column, title in (("popularity", "Popularity (0-100)"), ("followers", "Followers")):
        chart = charts.over_time(
            history, x="snapshot_date", y=column, color="artist_name", title=title, height=300, legend="right"
        )
        st.altair_chart(chart, width="stretch")
    _table(
        queries.artist_summary(history),
        {
            "artist_name": st.column_config.TextColumn("Artist", width="medium"),
            "streams": _count("Streams", help="Streams of their tracks in this selection"),
            "popularity": st.column_config.NumberColumn("Popularity", format="%d"),
            "followers": _count("Followers"),
            "followers_change": _count("Followers change", help="Since the first snapshot shown"),
        },
    )


def artificial_streaming(con: duckdb.DuckDBPyConnection, filters: Filters) -> None:
    """Tracks flagged for artificial streaming, their signals over time and the listeners (pseudonyms)."""
    st.subheader("Artificial streaming")
    if not queries.has_risk(con):
        st.info("Rebuild the warehouse (`uv run spotify-bulk build`) to add the artificial-streaming marts.")
        return
    flagged = queries.flagged_tracks(con, filters)
    if flagged.is_empty():
        st.success("No track flagged for artificial streaming in these days.", icon=":material/verified:")
        return
    st.caption(
        f"{flagged.height} track(s) flagged: most of a day's streams came from listeners who look like "
        "bots (docs/risk.md explains each reason). Listeners are shown as pseudonyms."
    )
    _table(
        flagged,
        {
            "licensor": "Licensor",
            "track_name": "Track",
            "track_id": "Track id",
            "risk_score": _count(
                "Risk score", "0-100: the artificial share, raised by anomalies vs the 28-day baseline"
            ),
            "artificial_share": _share(
                "Artificial share", "share of the day's streams by suspicious listeners"
            ),
            "flagged_days": _count("Days flagged"),
            "suspicious_streams": _count("Suspicious streams"),
            "reasons": "Reasons (latest day)",
        },
    )
    history = queries.risk_history(con, filters)
    left, right = st.columns(2)
    left.altair_chart(
        charts.over_time(
            history, x="date", y="risk_score", color="track", title="Risk score", legend="bottom"
        ),
        width="stretch",
    )
    right.altair_chart(
        charts.over_time(
            history, x="date", y="artificial_share_estimate", color="track", title="Artificial share",
            fmt=charts.SHARE, legend="bottom",
        ),
        width="stretch",
    )  # fmt: skip
    listeners = queries.suspicious_listeners(con, filters)
    with st.expander(f"Suspicious listeners ({listeners.height:,} shown, pseudonyms)"):
        _table(
            listeners,
            {
                "date": st.column_config.DateColumn("Date"),
                "listener": "Listener (pseudonym)",
                "track_id": "Track id",
                "plays": _count("Plays"),
                "account_age_days": _count("Account age (days)"),
                "reasons": "Reasons",
            },
        )


def data_health(status: LakeStatus) -> None:
    """What the lake holds for the page's licensors and days: freshness, missing days, rejects."""
    st.subheader("Data health")
    freshness, problems = queries.health_frames(status)
    _table(
        freshness,
        {
            "licensor": "Licensor",
            "newest_day": st.column_config.DateColumn("Newest complete day"),
            "last_load": st.column_config.DatetimeColumn("Last successful load (UTC)"),
            "days_missing": _count("Days incomplete", help="Days with some report not loaded"),
            "missing": "Which",
            "days_failed": _count("Days with failures"),
            "rejected": _count("Lines rejected", help="Lines refused at landing (malformed or implausible)"),
        },
    )
    if problems.is_empty():
        st.caption("Every report of every day shown is loaded, with no rejected lines.")
    else:
        total = int(problems["rejected"].sum())
        days = problems.filter(pl.col("rejected") > 0)["date"].n_unique()
        if total:
            st.caption(
                f"{total:,} lines rejected at landing on {days} day(s); the warehouse checks count them."
            )
        _table(
            problems,
            {
                "date": st.column_config.DateColumn("Date"),
                "licensor": "Licensor",
                "report": "Report",
                "state": "State",
                "rows": _count("Rows"),
                "rejected": _count("Rejected"),
                "cause": "Cause",
            },
        )
    if status.repull is not None:
        st.caption(f"The next daily load re-pulls {status.repull}.")
