"""Immutable snapshots of the lake and the marts, made of hard links.

A build reads the lake through a snapshot, so a load replacing a partition mid-build cannot tear
it; the published catalog reads a snapshot too, so readers keep a complete, consistent state while
later loads and builds replace the live partitions. Hard links cost no data copy, and a replaced
file's data lives on until the last snapshot holding it is garbage-collected.
"""

from __future__ import annotations

import errno
import os
import shutil
import time
import uuid
from pathlib import Path

from pipeline.atomic import remove_dir
from pipeline.reports import TABLES_BY_NAME
from pipeline.warehouse.paths import WarehousePaths, partition_dirs

LINK_RETRIES = 5
DEFAULT_RETENTION_SECONDS = 3600.0
DEFAULT_KEEP_LAST = 3


def new_snapshot_id(tag: str = "") -> str:
    """Sortable by creation time, unique across processes; `tag` lets a Dagster run find its own."""
    return f"{time.time_ns():020d}-{tag or uuid.uuid4().hex[:12]}"


def find_snapshot(paths: WarehousePaths, tag: str) -> Path | None:
    """The newest snapshot created with `tag`, if any."""
    found = sorted(paths.snapshots_root.glob(f"*-{tag}")) if paths.snapshots_root.is_dir() else []
    return found[-1] if found else None


def create_lake_snapshot(paths: WarehousePaths, *, tag: str = "") -> Path:
    """Link the lake into a new snapshot, built in staging and renamed into place when complete."""
    target = paths.snapshots_root / new_snapshot_id(tag)
    target.parent.mkdir(parents=True, exist_ok=True)
    building = paths.staging_root / f"snapshot-{uuid.uuid4().hex}"
    building.mkdir(parents=True)
    try:
        snapshot_lake(paths, building)
        os.rename(building, target)
    finally:
        shutil.rmtree(building, ignore_errors=True)
    return target


def _link(source: Path, target: Path) -> None:
    try:
        os.link(source, target)
    except OSError as exc:
        if exc.errno != errno.EXDEV:
            raise
        shutil.copy2(source, target)  # another filesystem: copy instead


def _link_partition(source_dir: Path, target_dir: Path) -> int:
    """Link every Parquet file of one partition; retried when a concurrent publish swaps it."""
    for attempt in range(LINK_RETRIES):
        if attempt:
            shutil.rmtree(target_dir, ignore_errors=True)
        try:
            files = sorted(p for p in source_dir.iterdir() if p.suffix == ".parquet")
            target_dir.mkdir(parents=True, exist_ok=True)
            for path in files:
                _link(path, target_dir / path.name)
            return len(files)
        except FileNotFoundError:
            if not source_dir.exists():
                shutil.rmtree(target_dir, ignore_errors=True)
                return 0
    raise RuntimeError(f"partition {source_dir} kept changing while it was being snapshotted")


def link_tree(source_root: Path, target_root: Path, *, partitioned: bool) -> int:
    """Link one table's or mart's Parquet files under `target_root`; returns the files linked."""
    if not partitioned:
        return _link_partition(source_root, target_root) if source_root.is_dir() else 0
    linked = 0
    for licensor, day, directory in partition_dirs(source_root):
        linked += _link_partition(directory, target_root / f"licensor={licensor}" / f"date={day:%Y-%m-%d}")
    return linked


def snapshot_lake(paths: WarehousePaths, snapshot: Path) -> int:
    """Link the current lake (report and catalog tables) into `snapshot/lake`; returns the files linked."""
    from pipeline.warehouse.enriched import link_catalog  # it builds on link_tree: imported late

    return sum(
        link_tree(paths.layout.lake_table(t), snapshot / "lake" / t, partitioned=True) for t in TABLES_BY_NAME
    ) + link_catalog(paths.layout.lake_root, snapshot / "lake")


def gc_snapshots(
    paths: WarehousePaths,
    *,
    keep: set[str],
    retention_seconds: float = DEFAULT_RETENTION_SECONDS,
    keep_last: int = DEFAULT_KEEP_LAST,
) -> int:
    """Remove snapshots older than the retention, sparing `keep`, the newest and the current one."""
    root = paths.snapshots_root
    if not root.is_dir():
        return 0
    current = paths.current_pointer.read_text().strip() if paths.current_pointer.exists() else ""
    names = sorted(p.name for p in root.iterdir() if p.is_dir() and not p.name.endswith(".old"))
    spared = set(keep) | set(names[-keep_last:]) | {current}
    now_ns = time.time_ns()
    removed = 0
    for name in names:
        stamp = name.split("-", 1)[0]
        age = (now_ns - int(stamp)) / 1e9 if stamp.isdigit() else float("inf")
        if name in spared or age < retention_seconds:
            continue
        remove_dir(root / name, staging_root=paths.staging_root)
        removed += 1
    return removed
