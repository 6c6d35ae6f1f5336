"""Retention: delete archive, lake and rejects partitions older than N days (personal data limits).

The streams, sub-30 and users reports carry personal data; the archive keeps them as sent (raw
user ids, region codes) and the rejects files quote raw lines. Retention bounds how long any of it
lives: every `date=` partition older than the cutoff is removed, in the archive, the lake, the
rejects and the warehouse's lake snapshots (the published catalog reads one; it loses those days
too). Marts are aggregates without user ids and are kept, except the few that name listeners
(`pipeline/risk/personal.py`), whose old partitions go with the lake's. Leftovers of crashed runs in staging
(half downloads, spill files) older than a day are swept as well.

Each report-day is removed under the same lock a load of it takes, so retention never races a
load of the same partition; each directory goes in one rename (readers never see half of it).
"""

from __future__ import annotations

import os
import shutil
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

from pipeline.dates import utc_today
from pipeline.ingest.ledger import LEDGER_DIR
from pipeline.layout import Layout
from pipeline.reports import REPORTS
from pipeline.risk.personal import PERSONAL_MARTS
from pipeline.storage.atomic import exclusive_lock, remove_dir
from pipeline.warehouse.accumulate import retire_before
from pipeline.warehouse.paths import WarehousePaths, partition_dirs

STALE_STAGING_SECONDS = 86_400.0
DUCKDB_TEMP = "duckdb-temp"  # see pipeline/warehouse/session.py


@dataclass(frozen=True)
class Expired:
    """One partition (or staging leftover) past the retention."""

    kind: str  # archive, lake, rejects, ledger, snapshot or staging
    name: str  # report or lake table
    licensor: str
    day: date | None
    path: Path
    bytes: int
    report: str = ""  # whose load lock guards it


@dataclass(frozen=True)
class RetentionResult:
    cutoff: date  # partitions dated before it are (or would be) deleted
    expired: tuple[Expired, ...]
    dry_run: bool

    @property
    def bytes(self) -> int:
        return sum(e.bytes for e in self.expired)

    def counts(self) -> Counter[str]:
        return Counter(e.kind for e in self.expired)


def _size(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def _partitions(root: Path, kind: str, name: str, report: str, cutoff: date) -> Iterator[Expired]:
    for licensor, day, directory in partition_dirs(root):
        if day < cutoff:
            yield Expired(kind, name, licensor, day, directory, _size(directory), report)


def find_expired(layout: Layout, cutoff: date, *, now: float | None = None) -> list[Expired]:
    """Everything retention would delete for `cutoff`, without touching anything."""
    found: list[Expired] = []
    snapshots = WarehousePaths(layout).snapshots_root
    snapshot_dirs = sorted(p for p in snapshots.iterdir() if p.is_dir()) if snapshots.is_dir() else []
    for report in REPORTS:
        found += _partitions(
            layout.data_dir / "archive" / report.name, "archive", report.name, report.name, cutoff
        )
        found += _partitions(
            layout.data_dir / "rejects" / report.name, "rejects", report.name, report.name, cutoff
        )
        found += _partitions(
            layout.data_dir / LEDGER_DIR / report.name, "ledger", report.name, report.name, cutoff
        )
        for table in report.tables:
            found += _partitions(layout.lake_table(table.name), "lake", table.name, report.name, cutoff)
            for snapshot in snapshot_dirs:
                found += _partitions(
                    snapshot / "lake" / table.name, "snapshot", table.name, report.name, cutoff
                )
    for mart in PERSONAL_MARTS:  # pseudonymous listeners: kept no longer than the streams
        found += _partitions(WarehousePaths(layout).mart_dir(mart), "mart", mart, "streams", cutoff)
    found += _stale_staging(layout, time.time() if now is None else now)
    return found


def _stale_staging(layout: Layout, now: float) -> Iterator[Expired]:
    """Staging leftovers of crashed runs: untouched for a day, so no live run owns them."""
    root = layout.staging_root
    if not root.is_dir():
        return
    for entry in sorted(root.iterdir()):
        if entry.name == DUCKDB_TEMP:
            continue  # DuckDB's own spill directory: it cleans up after itself
        try:
            newest = max([entry.stat().st_mtime, *(p.stat().st_mtime for p in entry.rglob("*"))])
        except FileNotFoundError:
            continue  # removed meanwhile by its owner
        if now - newest > STALE_STAGING_SECONDS:
            size = _size(entry) if entry.is_dir() else entry.stat().st_size
            yield Expired("staging", entry.name, "", None, entry, size)


def apply_retention(
    layout: Layout,
    *,
    keep_days: int,
    today: date | None = None,
    dry_run: bool = False,
    now: float | None = None,
    on_delete: Callable[[Expired], None] | None = None,
) -> RetentionResult:
    """Delete (or, with `dry_run`, only list) what is dated more than `keep_days` days before today."""
    if keep_days < 1:
        raise ValueError("keep_days must be at least 1")
    cutoff = (today or utc_today()) - timedelta(days=keep_days)
    expired = find_expired(layout, cutoff, now=now)
    if not dry_run:
        if any(item.kind == "lake" for item in expired):  # before deleting: see accumulate.py
            retire_before(WarehousePaths(layout), cutoff)
        for item in expired:
            _delete(layout, item)
            if on_delete is not None:
                on_delete(item)
    return RetentionResult(cutoff, tuple(expired), dry_run)


def _delete(layout: Layout, item: Expired) -> None:
    if item.kind == "staging":
        if item.path.is_dir():
            shutil.rmtree(item.path, ignore_errors=True)
        else:
            item.path.unlink(missing_ok=True)
        return
    assert item.day is not None
    with exclusive_lock(layout.lock_path(f"load-{item.report}", item.licensor, item.day)):
        remove_dir(item.path, staging_root=layout.staging_root)
    parent = item.path.parent  # licensor=X: removed once its last date is gone
    if parent.is_dir() and not any(parent.iterdir()):
        os.rmdir(parent)
