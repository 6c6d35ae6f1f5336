"""End to end over HTTP: a day in a public production client's forms (Y/N `completion_flag`,
`discovery_flag`, upper-case genders, `play_queue`, the coded aggregated shape) loads with
completion and every count exact, and the warehouse build passes."""

from __future__ import annotations

import asyncio
from datetime import date

import duckdb
import pytest

from pipeline.clients.bulk_api import BulkApiClient
from pipeline.emulator import start_emulator
from pipeline.ingest.load import load_report
from pipeline.layout import Layout
from pipeline.reports import REPORTS
from pipeline.warehouse.build import build_warehouse
from pipeline.warehouse.catalog import open_catalog
from tests.kits.emulator_http import Bulk
from tests.kits.fake_lake import lake_tables
from tests.kits.settings import emulator_connection, one_licensor_config
from tests.kits.warehouse import DEMOGRAPHIC_STREAMS_MISMATCH

TODAY = date(2026, 6, 15)
DAY = date(2026, 6, 12)


@pytest.fixture(scope="module")
def public(tmp_path_factory: pytest.TempPathFactory) -> tuple[Layout, dict, dict, dict]:
    root = tmp_path_factory.mktemp("public_client")
    layout = Layout(root / "data")
    config = one_licensor_config(root / "cache", TODAY, aggregated_shape="coded", field_forms="public_client")

    async def go(emulator) -> dict:
        async with BulkApiClient(emulator_connection(emulator)) as client:
            return {r.name: (await load_report(client, layout, r, "acme", DAY)).landing for r in REPORTS}

    with start_emulator(config) as emulator:
        landings = asyncio.run(go(emulator))
        expected = emulator.expected("acme", DAY)
        bulk = Bulk(emulator)
        sent = {r: bulk.records("acme", r, DAY) for r in ("streams", "sub_30_sec_streams", "users")}
        bulk.close()
    build = build_warehouse(layout)
    assert build.passed, build.failed_checks
    return layout, landings, expected, sent


def _lake(layout: Layout, table: str, sql: str) -> list[tuple]:
    """`sql` over view `t`: the lake table as its Iceberg catalog reads it (not the warehouse)."""
    rows = lake_tables(layout).read(table)
    with duckdb.connect() as con:
        con.register("t", rows)
        return con.execute(sql).fetchall()


def test_every_line_lands_and_every_count_is_exact(public):
    _layout, landings, expected, _sent = public
    for name, landing in landings.items():
        assert landing.rejected == 0 and landing.warnings == () and landing.unknown_fields == {}, name
        for table in landing.tables:
            assert table.rows == expected[table.table], table.table


def test_completion_and_discovery_come_from_the_flag_forms(public):
    layout, _landings, _expected, sent = public
    for table, report in (("streams", "streams"), ("sub30_streams", "sub_30_sec_streams")):
        nulls = _lake(
            layout, table, "SELECT count(*), count(*) - count(completion), count(*) - count(discovery) FROM t"
        )
        assert nulls[0][0] == len(sent[report]) > 0 and nulls[0][1:] == (0, 0), table
        completed = _lake(layout, table, "SELECT count(*) FILTER (WHERE completion) FROM t")[0][0]
        assert completed == sum(r["completion_flag"] == "Y" for r in sent[report]), table
    genders = {g for (g,) in _lake(layout, "users", "SELECT DISTINCT gender FROM t")}
    assert genders <= {"female", "male", "non_binary", "unknown"} and "non_binary" in genders


def test_the_coded_shape_builds_demographics_and_play_queue_counts_as_other(public):
    layout, _landings, _expected, sent = public
    genders = {g for (g,) in _lake(layout, "aggregated_count", "SELECT DISTINCT gender FROM t")}
    assert genders <= {"female", "male", "non_binary", "unknown"}
    con = open_catalog(layout.warehouse_path)
    try:
        mismatched = con.execute(DEMOGRAPHIC_STREAMS_MISMATCH).fetchall()
        assert mismatched == [(0,)]
        assert con.execute(
            "SELECT bool_and(has_demographic_breakdown) FROM fct_track_demographics"
        ).fetchall() == [(True,)]
        other = con.execute("SELECT sum(streams) FROM fct_source_mix WHERE source_group = 'other'").fetchall()
    finally:
        con.close()
    unknown = {"play_queue", "unknown"}
    assert other == [(sum(r["source"] in unknown for r in sent["streams"]),)]
    assert any(r["source"] == "play_queue" for r in sent["streams"])
