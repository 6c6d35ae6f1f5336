"""End to end on the emulator: load over real HTTP, build, then late data re-published and re-pulled."""

from __future__ import annotations

import asyncio
from datetime import date, timedelta
from pathlib import Path

from pipeline.clients.bulk_api import BulkApiClient
from pipeline.dates import DateWindow
from pipeline.emulator import EmulatorConfig, RunningEmulator, start_emulator
from pipeline.ingest.load import load_report
from pipeline.layout import Layout
from pipeline.reports import REPORTS
from pipeline.warehouse.build import build_warehouse
from pipeline.warehouse.catalog import open_catalog
from tests.kits.fake_lake import partition_row_count
from tests.kits.settings import emulator_connection

TODAY = date(2026, 6, 15)
DAYS = [date(2026, 6, 12), date(2026, 6, 13)]


async def _load(
    emulator: RunningEmulator, layout: Layout, licensors: tuple[str, ...], days: list[date]
) -> None:
    async with BulkApiClient(emulator_connection(emulator)) as client:
        for licensor in licensors:
            for day in days:
                for report in REPORTS:
                    await load_report(client, layout, report, licensor, day)


def _lake_rows(layout: Layout, table: str, licensor: str, day: date) -> int:
    return partition_row_count(layout, table, licensor, day)


def _mart(layout: Layout, sql: str, params: dict | None = None) -> list[tuple]:
    con = open_catalog(layout.warehouse_path)
    try:
        return con.execute(sql, params or {}).fetchall()
    finally:
        con.close()


def test_emulator_load_build_and_late_data(tmp_path: Path):
    layout = Layout(tmp_path / "data")
    config = EmulatorConfig(rows_per_day=300, today=TODAY, licensors=("acme",), cache_dir=tmp_path / "cache")
    with start_emulator(config) as emulator:
        asyncio.run(_load(emulator, layout, config.licensors, DAYS))
        result = build_warehouse(layout)
        assert result.passed, result.failed_checks  # the emulator's data reconciles
        for licensor in config.licensors:
            for day in DAYS:
                expected = _lake_rows(layout, "streams", licensor, day)
                sub30 = _lake_rows(layout, "sub30_streams", licensor, day)
                got = _mart(
                    layout,
                    "SELECT sum(streams), sum(sub30_streams) FROM fct_track_performance "
                    "WHERE licensor = $l AND date = $d",
                    {"l": licensor, "d": day},
                )
                assert got == [(expected, sub30)]

        late = DAYS[0]
        before = _lake_rows(layout, "streams", "acme", late)
        emulator.republish("acme", late, 1)  # late-arriving rows for a day already loaded
        lookback = [late, late + timedelta(days=1)]
        asyncio.run(_load(emulator, layout, ("acme",), lookback))  # the schedule's look-back re-pull
    after = _lake_rows(layout, "streams", "acme", late)
    assert after != before
    result = build_warehouse(layout, DateWindow(lookback[0], lookback[-1]))
    assert result.passed, result.failed_checks
    got = _mart(
        layout,
        "SELECT sum(streams), count(*), count(DISTINCT track_id) FROM fct_track_performance "
        "WHERE licensor = 'acme' AND date = $d",
        {"d": late},
    )
    assert got[0][0] == after and got[0][1] == got[0][2]  # corrected, one row per track
    daily = _mart(
        layout,
        "SELECT sum(streams) FROM fct_daily_streams WHERE licensor = 'acme' AND date = $d",
        {"d": late},
    )
    assert daily == [(after,)]
