"""Helpers for the dashboard tests: land emulator days, enrich, read the lake, find a browser."""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import Iterable
from datetime import date, datetime, timedelta
from pathlib import Path

import duckdb
import polars as pl

from pipeline.clients import WebApiClient
from pipeline.clients.bulk_api import BulkApiClient
from pipeline.clients.http import RetryPolicy
from pipeline.emulator import RunningEmulator
from pipeline.enrichment import enrich_all
from pipeline.ingest.load import load_report
from pipeline.layout import Layout
from pipeline.reports import REPORTS
from pipeline.warehouse.catalog import open_catalog
from tests.kits.os_packages import missing_os_package
from tests.kits.settings import emulator_connection

# The session emulator's "today" is 2026-06-15 and it publishes up to the day before.
DAYS = (date(2026, 6, 11), date(2026, 6, 12), date(2026, 6, 13))
MORE_DAY = date(2026, 6, 14)
CHROMIUM_NAMES = ("chromium", "chromium-browser")  # Debian's and Ubuntu's
CHROMIUM_INSTALL = "apt-get install chromium"


def find_chromium() -> Path | None:
    """A Chromium to drive: the OS package on PATH, else one `playwright install` put in its cache."""
    for name in CHROMIUM_NAMES:
        if found := shutil.which(name):
            return Path(found)
    from playwright.sync_api import Error, sync_playwright

    try:
        with sync_playwright() as playwright:
            bundled = Path(playwright.chromium.executable_path)
    except Error:
        return None
    return bundled if bundled.is_file() else None


def require_chromium() -> Path:
    """The browser, else a skip on a developer's fresh machine, a failure under CI (`missing_os_package`)."""
    found = find_chromium()
    if found is not None:
        return found
    reason = (
        f"no Chromium ({', '.join(CHROMIUM_NAMES)} or Playwright's): install it with `{CHROMIUM_INSTALL}`"
    )
    missing_os_package(reason)


def land(emu: RunningEmulator, layout: Layout, days: Iterable[date]) -> None:
    """Every report for both licensors on `days`, over real HTTP, as the loader does it."""

    async def go() -> None:
        cfg = emu.config
        async with BulkApiClient(emulator_connection(emu)) as client:
            for licensor in cfg.licensors:
                for day in days:
                    for report in REPORTS:
                        await load_report(client, layout, report, licensor, day)

    asyncio.run(go())


def enrich(emu: RunningEmulator, layout: Layout, now: datetime, kinds: tuple[str, ...] | None = None) -> None:
    """One enrichment pass at `now` that refetches every id of `kinds` (default all), so each pass
    adds a day to the catalog's history."""

    async def go() -> None:
        async with WebApiClient(
            emulator_connection(emu, "web"),
            rate_limit=10_000,
            retry=RetryPolicy(max_attempts=5, base_delay=0.05, max_delay=0.2),
        ) as client:
            options = {"kinds": kinds} if kinds else {}
            await enrich_all(client, layout, now=now, ttl=timedelta(0), **options)

    asyncio.run(go())


def lake(data_dir: Path, table: str) -> pl.DataFrame:
    """A lake table straight from its Parquet files (licensor and date from the Hive path)."""
    return pl.read_parquet(data_dir / "lake" / table / "**" / "*.parquet", hive_partitioning=True)


def warehouse(data_dir: Path) -> duckdb.DuckDBPyConnection:
    return open_catalog(data_dir / "warehouse.duckdb")


def drop_catalog_views(data_dir: Path) -> None:
    """Make the warehouse look like one built before the catalog views existed."""
    con = duckdb.connect(str(data_dir / "warehouse.duckdb"))
    try:
        for view in ("dim_playlists", "dim_artists", "stg_catalog_artists_daily"):
            con.execute(f"DROP VIEW {view}")
    finally:
        con.close()
