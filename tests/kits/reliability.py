"""Helpers for the reliability suite: load a day from an emulator, compare lakes, check invariants.

Every check here reads the data directory the way a reader would: a partition is visible when its
directory exists, and a visible partition must be complete (one readable Parquet file with the
declared schema, an archive whose manifest matches its files).
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import pyarrow.parquet as pq

from pipeline.clients.bulk_api import BulkApiClient
from pipeline.clients.http import RetryPolicy
from pipeline.emulator import RunningEmulator
from pipeline.ingest.archive import MANIFEST_NAME, verify_manifest
from pipeline.ingest.landing import LandingOptions
from pipeline.ingest.landing.gate import BLOCKED_FILE
from pipeline.ingest.load import LoadFailed, LoadOutcome, load_report
from pipeline.ingest.tally import TALLY_FILE
from pipeline.layout import Layout, partition_dirs
from pipeline.reports import REPORTS, TABLES_BY_NAME, ReportSpec
from tests.kits.fake_lake import lake_tables, partition_rows
from tests.kits.figures import record as record  # the suites record their cases through this kit
from tests.kits.settings import emulator_connection

# Quick retries so the suite stays fast; Retry-After is honoured up to 1 s (the emulator's minimum).
FAST_RETRY = RetryPolicy(max_attempts=4, base_delay=0.05, max_delay=0.2, max_retry_after=1.0)
LINEAGE_TIME = "_loaded_at"


@dataclass
class DayLoad:
    """The outcome of loading some reports of one licensor-day: what landed, what failed."""

    outcomes: dict[str, LoadOutcome] = field(default_factory=dict)
    failures: dict[str, LoadFailed] = field(default_factory=dict)


def client_for(
    emulator: RunningEmulator,
    *,
    timeout: float = 5.0,
    secret: str | None = None,
    retry: RetryPolicy = FAST_RETRY,
) -> BulkApiClient:
    config = emulator.config
    secret = config.client_secret if secret is None else secret
    return BulkApiClient(emulator_connection(emulator, client_secret=secret, timeout=timeout), retry=retry)


async def load_day_async(
    emulator: RunningEmulator,
    data_dir: Path,
    licensor: str,
    day: date,
    *,
    reports: tuple[ReportSpec, ...] = REPORTS,
    max_reject_share: float = 0.01,
    timeout: float = 5.0,
    options: LandingOptions | None = None,
    retry: RetryPolicy = FAST_RETRY,
) -> DayLoad:
    """Load `reports` concurrently (as Dagster's separate report steps would run)."""
    result = DayLoad()
    async with client_for(emulator, timeout=timeout, retry=retry) as client:

        async def one(report: ReportSpec) -> None:
            try:
                result.outcomes[report.name] = await load_report(
                    client,
                    Layout(data_dir),
                    report,
                    licensor,
                    day,
                    max_reject_share=max_reject_share,
                    options=options,
                )
            except LoadFailed as exc:
                result.failures[report.name] = exc

        await asyncio.gather(*(one(r) for r in reports))
    return result


def load_day(
    emulator: RunningEmulator, data_dir: Path, licensor: str, day: date, **kwargs: object
) -> DayLoad:
    return asyncio.run(load_day_async(emulator, data_dir, licensor, day, **kwargs))  # type: ignore[arg-type]


def table_rows(data_dir: Path, table: str, licensor: str, day: date) -> list[dict] | None:
    """A lake partition's rows without `_loaded_at` (in file order), or None when not visible."""
    rows = partition_rows(Layout(data_dir), table, licensor, day)
    if rows is None:
        return None
    return [{k: v for k, v in row.items() if k not in (LINEAGE_TIME, "licensor", "date")} for row in rows]


def lake_state(data_dir: Path, licensor: str, day: date) -> dict[str, list[dict] | None]:
    return {table: table_rows(data_dir, table, licensor, day) for table in TABLES_BY_NAME}


def as_multiset(rows: list[dict], *, drop: tuple[str, ...] = ()) -> Counter:
    return Counter(tuple((k, repr(v)) for k, v in row.items() if k not in drop) for row in rows)


def assert_no_partial_state(data_dir: Path) -> dict[str, int]:
    """Every visible partition is complete; returns how many of each kind were checked."""
    layout = Layout(data_dir)
    seen = Counter()
    for name, spec in TABLES_BY_NAME.items():
        lake = lake_tables(layout)
        if lake.load(name) is None:
            continue
        for part, files in lake.files(name).items():
            assert len(files) == 1, f"{name} {part} holds {files}"  # one commit, one file
            schema = pq.read_schema(files[0])
            assert schema.names == [*spec.schema.names, "licensor", "date"], f"{files[0]}: schema {schema}"
            pq.read_table(files[0])  # readable to the end
            seen["lake"] += 1
    for report in REPORTS:
        for _licensor, _day, directory in partition_dirs(layout.archive_root / report.name):
            assert (directory / MANIFEST_NAME).exists(), f"{directory} has no manifest"
            assert verify_manifest(directory) == [], f"{directory}: {verify_manifest(directory)}"
            seen["archive"] += 1
        for _licensor, _day, directory in partition_dirs(data_dir / "rejects" / report.name):
            entries = {p.name for p in directory.iterdir()}
            assert entries <= {"rejects.jsonl", TALLY_FILE, BLOCKED_FILE}, f"{directory} holds {entries}"
            seen["rejects"] += 1
    stray = [
        p for p in data_dir.rglob("*") if p.name.endswith((".part", ".tmp")) and ".staging" not in p.parts
    ]
    assert stray == [], f"temporary files outside staging: {stray}"
    return dict(seen)


def assert_inside(data_dir: Path, root: Path) -> None:
    """Nothing was written under `root` except inside `data_dir`."""
    outside = [p for p in root.rglob("*") if p.is_file() and data_dir not in p.parents]
    assert outside == [], f"written outside the data directory: {outside}"


def logged(read: Callable[[], object], expected: object, *, timeout: float = 2.0) -> object:
    """`read()` once it equals `expected` (or at the timeout): the emulator logs a request after
    answering it, so the client can be done before the server's log has the last request."""
    deadline = time.monotonic() + timeout
    while (value := read()) != expected and time.monotonic() < deadline:
        time.sleep(0.02)
    return value


def report_named(name: str) -> ReportSpec:
    return next(r for r in REPORTS if r.name == name)
