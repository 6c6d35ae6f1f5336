"""End to end on the emulator in its other wire variants: the totals aggregated shape, warehouse field
names and mixed track id forms land, reconcile and enrich, and nothing invents a demographic split."""

from __future__ import annotations

import asyncio
from datetime import date

import duckdb
import pytest

from pipeline.clients.bulk_api import BulkApiClient
from pipeline.dashboard import queries
from pipeline.emulator import start_emulator
from pipeline.enrichment import enrich
from pipeline.ingest.load import load_report
from pipeline.layout import Layout
from pipeline.reports import REPORTS
from pipeline.warehouse.build import build_warehouse
from pipeline.warehouse.catalog import open_catalog
from tests.kits.fake_lake import current_files
from tests.kits.settings import emulator_connection, one_licensor_config
from tests.kits.warehouse import DEMOGRAPHIC_STREAMS_MISMATCH
from tests.kits.web_api import web_client

TODAY = date(2026, 6, 15)
DAY = date(2026, 6, 12)
BASE62 = "^[0-9A-Za-z]{22}$"


@pytest.fixture(scope="module")
def shaped(tmp_path_factory: pytest.TempPathFactory) -> tuple[Layout, dict]:
    """One licensor-day landed from an emulator in every non-default content mode, built, enriched."""
    root = tmp_path_factory.mktemp("shapes")
    layout = Layout(root / "data")
    config = one_licensor_config(
        root / "cache", TODAY, aggregated_shape="totals", field_names="warehouse", track_id_forms="mixed"
    )

    async def go() -> dict:
        landings = {}
        async with BulkApiClient(emulator_connection(emulator)) as client:
            for report in REPORTS:
                outcome = await load_report(client, layout, report, "acme", DAY)
                landings[report.name] = outcome.landing
        async with web_client(emulator) as web:
            landings["enrich_tracks"] = await enrich("tracks", web, layout)
        return landings

    with start_emulator(config) as emulator:
        landings = asyncio.run(go())
    build = build_warehouse(layout)
    assert build.passed, build.failed_checks  # the blocking checks, aggregated_count vs streams among them
    return layout, landings


def _lake(layout: Layout, table: str, sql: str) -> list[tuple]:
    files = current_files(layout, table)
    with duckdb.connect() as con:
        con.execute(f"CREATE VIEW t AS SELECT * FROM read_parquet({files})")
        return con.execute(sql).fetchall()


def test_warehouse_names_land_through_registry_aliases(shaped):
    layout, landings = shaped
    for report in ("streams", "sub30_streams", "users"):
        assert landings[report].rejected == 0 and landings[report].warnings == (), report
        assert landings[report].unknown_fields == {}, report
    nulls = _lake(
        layout,
        "streams",
        "SELECT count(*), count(*) - count(source), count(*) - count(user_id), "
        "count(*) - count(country), count(*) - count(device_type) FROM t",
    )
    assert nulls[0][0] > 0 and nulls[0][1:] == (0, 0, 0, 0)
    assert _lake(layout, "users", "SELECT count(*) - count(product) FROM t") == [(0,)]


def test_mixed_id_forms_land_as_the_catalogs_base62_ids(shaped):
    layout, landings = shaped
    assert landings["streams"].invalid_track_ids == 0
    for table in ("streams", "sub30_streams", "tracks", "aggregated_count"):
        bad = _lake(
            layout, table, f"SELECT count(*) FROM t WHERE NOT regexp_full_match(track_id, '{BASE62}')"
        )
        assert bad == [(0,)], table
    streamed = {r[0] for r in _lake(layout, "streams", "SELECT DISTINCT track_id FROM t")}
    listed = {r[0] for r in _lake(layout, "tracks", "SELECT DISTINCT track_id FROM t")}
    assert streamed <= listed
    result = landings["enrich_tracks"]
    assert result.malformed_ids == 0 and result.wanted == len(listed)
    assert result.found == result.wanted and result.not_found == result.invalid == 0  # names 100 %


def test_totals_shape_reconciles_and_says_no_demographic_breakdown(shaped):
    layout, landings = shaped
    assert landings["aggregated_streams"].rejected == 0
    assert _lake(layout, "aggregated_count", "SELECT count(*), count(gender), count(age_group) FROM t")[0][
        1:
    ] == (
        0,
        0,
    )
    con = open_catalog(layout.warehouse_path)
    try:
        flags = con.execute(
            "SELECT DISTINCT has_demographic_breakdown, gender, age_group FROM fct_track_demographics"
        ).fetchall()
        assert flags == [(False, None, None)]
        mismatched = con.execute(DEMOGRAPHIC_STREAMS_MISMATCH).fetchall()
        assert mismatched == [(0,)]
        by_plan = con.execute("SELECT sum(saves) FROM fct_saves_by_plan").fetchall()
        summary = con.execute("SELECT sum(saves) FROM stg_aggregated_summary").fetchall()
        assert by_plan == summary  # every save counted once by plan, none twice
        frame = queries.demographics(con, queries.Filters(DAY, DAY))
    finally:
        con.close()
    known, without = queries.with_breakdown(frame)
    assert known.is_empty() and without == 1.0
    assert queries.NO_BREAKDOWN.startswith("No demographic breakdown")
