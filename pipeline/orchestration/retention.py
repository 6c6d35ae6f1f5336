"""Retention: delete archive, lake and rejects partitions older than N days (personal data limits).

The streams, sub-30 and users reports carry personal data; the archive keeps them as sent (raw
user ids, region codes) and the rejects files quote raw lines. Retention bounds how long any of it
lives: every partition older than the cutoff is removed from the archive, the rejects and the
lake's Iceberg tables. In the tables that is a table operation: one delete commit per table drops
the expired partitions' files whole (never rewritten), then every snapshot still referencing such
a file is expired at once and the files deleted, so no referenced file of any snapshot holds an
expired row (a reader's earlier catalog loses those days too; personal data limits win over the
readers' grace period). Marts are aggregates without user ids and are kept, except the few that name
listeners (`pipeline/risk/personal.py`), whose old partitions go the same way. Leftovers of crashed
runs in staging (half downloads, spill files) older than a day are swept as well.

Each report-day is removed under the same lock a load of it takes, so retention never races a
load of the same partition.
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

from pyiceberg.expressions import LessThan

from pipeline.config import tables_for
from pipeline.dates import utc_today
from pipeline.ingest.ledger import LEDGER_DIR
from pipeline.layout import Layout, partition_dirs
from pipeline.reports import REPORTS
from pipeline.risk.personal import PERSONAL_MARTS
from pipeline.storage.atomic import exclusive_lock, remove_dir
from pipeline.storage.partition_columns import local_path
from pipeline.storage.tables import TableLake
from pipeline.warehouse.accumulate import retire_before
from pipeline.warehouse.build import republish
from pipeline.warehouse.paths import MARTS, WarehousePaths

STALE_STAGING_SECONDS = 86_400.0
DUCKDB_TEMP = "duckdb-temp"  # see pipeline/warehouse/session.py


@dataclass(frozen=True)
class Expired:
    """One partition (or staging leftover) past the retention."""

    kind: str  # archive, lake, mart (personal marts only), rejects, ledger or staging
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


def _lake_partitions(
    tables: TableLake, table: str, report: str, cutoff: date, kind: str = "lake"
) -> Iterator[Expired]:
    """The table's partitions dated before `cutoff` in its current snapshot (path: a data file)."""
    for (licensor, day), files in tables.files(table).items():
        if day < cutoff:
            paths = [p for p in (local_path(f) for f in files) if p is not None]
            size = sum(p.stat().st_size for p in paths if p.exists())
            yield Expired(kind, table, licensor, day, paths[0] if paths else Path(files[0]), size, report)


def find_expired(
    layout: Layout, cutoff: date, *, now: float | None = None, tables: TableLake | None = None
) -> list[Expired]:
    """Everything retention would delete for `cutoff`, without touching anything."""
    found: list[Expired] = []
    lake = tables or tables_for(layout.data_dir)
    existing = set(lake.table_names())
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
            if table.name in existing:
                found += _lake_partitions(lake, table.name, report.name, cutoff)
    marts = lake.sibling(MARTS)
    for mart in _personal_marts(marts):  # pseudonymous listeners: kept no longer than the streams
        found += _lake_partitions(marts, mart, "streams", cutoff, kind="mart")
    found += _stale_staging(layout, time.time() if now is None else now)
    return found


def _personal_marts(marts: TableLake) -> list[str]:
    return [name for name in PERSONAL_MARTS if name in set(marts.table_names())]


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
    tables: TableLake | None = None,
) -> RetentionResult:
    """Delete (or, with `dry_run`, only list) what is dated more than `keep_days` days before today.

    The lake's tables: one delete commit per table, then every snapshot still holding an expired
    day is expired and its files deleted (`TableLake.purge_before`). A catalog that cannot answer
    fails the run before anything is deleted.
    """
    if keep_days < 1:
        raise ValueError("keep_days must be at least 1")
    cutoff = (today or utc_today()) - timedelta(days=keep_days)
    lake = tables or tables_for(layout.data_dir)
    expired = find_expired(layout, cutoff, now=now, tables=lake)
    if not dry_run:
        if any(item.kind == "lake" for item in expired):  # before deleting: see accumulate.py
            retire_before(WarehousePaths(layout, lake), cutoff)
            lake.delete_before(cutoff)
        lake.purge_before(cutoff)  # also what an earlier, interrupted run left referenced
        marts = lake.sibling(MARTS)
        if personal := _personal_marts(marts):
            marts.delete_where(LessThan("date", cutoff.isoformat()), tables=personal)
            marts.purge_before(cutoff, tables=personal)
        if layout.warehouse_path.exists() and any(item.kind in ("lake", "mart") for item in expired):
            republish(layout, tables=lake)  # the published catalog names only files that remain
        for item in expired:
            if item.kind not in ("lake", "mart"):
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
