"""Immutable snapshots of the lake and the marts, made of hard links.

A build reads the lake through a snapshot, so a load replacing a partition mid-build cannot tear
it; the published catalog reads a snapshot too, so readers keep a complete, consistent state while
later loads and builds replace the live partitions. Hard links cost no data copy, and a replaced
file's data lives on until the last snapshot holding it is garbage-collected.

A new snapshot reuses the tree of one that garbage collection would remove anyway (expired, not
current): renamed away in one step (a reader still on it finds it gone, never changed under it),
then brought in line with the lake, which links and unlinks only what changed since. Building a
tree from nothing costs a directory per partition; keeping one in line costs what changed.

Marts are not linked into each snapshot: every version of a mart file is linked once into
`.warehouse/mart-versions/` (named by its inode, so an unchanged file keeps its name from build to
build), a snapshot lists the versions its catalog reads in `marts.json`, and versions no snapshot
lists are removed with the snapshots. A publish links only the files the build rewrote.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import time
import uuid
from pathlib import Path

from pipeline.enrichment.tables import CATALOG_TABLES
from pipeline.reports import TABLES_BY_NAME
from pipeline.storage.atomic import atomic_write_bytes, remove_dir
from pipeline.warehouse.enriched import link_catalog
from pipeline.warehouse.links import Linked, link_file, link_tree, parquet_files, same_version
from pipeline.warehouse.paths import WarehousePaths, partition_dirs

DEFAULT_RETENTION_SECONDS = 3600.0
DEFAULT_KEEP_LAST = 3
MARTS_MANIFEST = "marts.json"
LAKE_MANIFEST = "lake.json"  # per lake table, the directory versions the snapshot links
DIRTY = ".collect"  # in the version store: a snapshot was recycled, collect its versions


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
    building = _take_expired(paths)
    if building is None:
        building = paths.staging_root / f"snapshot-{uuid.uuid4().hex}"
        building.mkdir(parents=True)
    try:
        (building / MARTS_MANIFEST).unlink(missing_ok=True)  # what a recycled one's catalog read
        shutil.rmtree(building / "marts", ignore_errors=True)  # (older snapshots linked marts too)
        snapshot_lake(paths, building)
        os.rename(building, target)
    finally:
        shutil.rmtree(building, ignore_errors=True)
    return target


def _take_expired(paths: WarehousePaths) -> Path | None:
    """Move the newest snapshot garbage collection would remove into staging, to be reused.

    That is counted with the new snapshot among the newest: in steady state (one build a day, the
    newest `DEFAULT_KEEP_LAST` kept) the oldest kept one goes when the new one lands, so it is
    recycled now instead of a tree being linked from nothing and that one deleted after.
    """
    expired = _expired(paths, keep=set(), keep_last=DEFAULT_KEEP_LAST - 1)
    if not expired:
        return None
    taken = paths.staging_root / f"snapshot-{uuid.uuid4().hex}"
    paths.staging_root.mkdir(parents=True, exist_ok=True)
    try:
        os.rename(paths.snapshots_root / expired[-1], taken)
    except FileNotFoundError:
        return None
    _mark_versions_dirty(paths)  # the versions only its catalog read may be garbage now
    return taken


def _read_linked(snapshot: Path) -> dict[str, Linked]:
    """What a recycled tree's lake links, per table, and forget it (the tree is about to change)."""
    path = snapshot / LAKE_MANIFEST
    try:
        recorded = json.loads(path.read_text())
    except (FileNotFoundError, ValueError):
        return {}
    finally:
        path.unlink(missing_ok=True)
    return {table: {k: (v[0], v[1]) for k, v in parts.items()} for table, parts in recorded.items()}


def snapshot_lake(paths: WarehousePaths, snapshot: Path) -> int:
    """Make `snapshot/lake` link the current lake (report and catalog tables); returns files linked.

    A recycled tree notes which lake directory versions it links (`lake.json`), so the partitions
    the lake did not change since cost one `stat` each: a one-day build stays flat in history.
    """
    lake = snapshot / "lake"
    known = _read_linked(snapshot)
    if lake.is_dir():  # a recycled tree: tables this version does not know go
        for entry in os.scandir(lake):
            if entry.name not in TABLES_BY_NAME and entry.name not in CATALOG_TABLES:
                shutil.rmtree(entry.path, ignore_errors=True)
    else:
        known = {}
    linked: dict[str, Linked] = {t: {} for t in TABLES_BY_NAME}
    count = sum(
        link_tree(
            paths.layout.lake_table(t), lake / t, partitioned=True, known=known.get(t), linked=linked[t]
        )
        for t in TABLES_BY_NAME
    ) + link_catalog(paths.layout.lake_root, lake)
    atomic_write_bytes(snapshot / LAKE_MANIFEST, json.dumps(linked).encode())
    return count


def store_mart(paths: WarehousePaths, model: str, *, partitioned: bool) -> list[Path]:
    """The mart's current files as versions in the store, linking the ones not there yet.

    A version is named by its file's inode: an unchanged file finds its version by listing the
    partition's directory in the store, a rewritten one (a new inode) gets a new version while the
    old one stays for older catalogs. Marts are only written under the warehouse lock, which the
    caller holds.
    """
    root, store = paths.mart_dir(model), paths.mart_versions_root / model
    if partitioned:
        dirs = [(f"licensor={lic}/date={day:%Y-%m-%d}", d) for lic, day, d in partition_dirs(root)]
    else:
        dirs = [("", root)]
    versions = []
    for relative, directory in dirs:
        live = parquet_files(directory) or {}
        held = parquet_files(store / relative) if live else None
        for name, version in sorted(live.items()):
            stored = store / relative / f"{version[2]}.parquet"
            if not same_version((held or {}).get(stored.name), version):
                stored.unlink(missing_ok=True)  # an inode number reused after its version went
                stored.parent.mkdir(parents=True, exist_ok=True)
                link_file(directory / name, stored)
            versions.append(stored)
    return versions


def record_marts(snapshot: Path, versions: list[Path], store: Path) -> None:
    """Note in `snapshot` the versions its catalog reads (added to any noted before: a re-publish)."""
    path = snapshot / MARTS_MANIFEST
    listed = set(json.loads(path.read_text())) if path.exists() else set()
    listed.update(str(v.relative_to(store)) for v in versions)
    atomic_write_bytes(path, json.dumps(sorted(listed)).encode())


def gc_mart_versions(paths: WarehousePaths) -> int:
    """Remove the mart versions no snapshot's `marts.json` lists; returns how many."""
    store, root = paths.mart_versions_root, paths.snapshots_root
    if not store.is_dir():
        return 0
    listed: set[str] = set()
    for snapshot in root.iterdir() if root.is_dir() else ():
        with contextlib.suppress(FileNotFoundError):
            listed.update(json.loads((snapshot / MARTS_MANIFEST).read_text()))
    removed = 0
    for directory, _dirs, files in os.walk(store, topdown=False):
        for name in files:
            path = Path(directory) / name
            if str(path.relative_to(store)) not in listed:
                path.unlink(missing_ok=True)
                removed += 1
        if directory != str(store) and not os.listdir(directory):
            os.rmdir(directory)
    return removed


def _mark_versions_dirty(paths: WarehousePaths) -> None:
    paths.mart_versions_root.mkdir(parents=True, exist_ok=True)
    (paths.mart_versions_root / DIRTY).touch()


def _expired(
    paths: WarehousePaths,
    *,
    keep: set[str],
    retention_seconds: float = DEFAULT_RETENTION_SECONDS,
    keep_last: int = DEFAULT_KEEP_LAST,
) -> list[str]:
    """Snapshots older than the retention, sparing `keep`, the newest and the current one (oldest first)."""
    root = paths.snapshots_root
    if not root.is_dir():
        return []
    current = paths.current_pointer.read_text().strip() if paths.current_pointer.exists() else ""
    names = sorted(p.name for p in root.iterdir() if p.is_dir() and not p.name.endswith(".old"))
    spared = set(keep) | set(names[-keep_last:]) | {current}
    now_ns = time.time_ns()
    expired = []
    for name in names:
        stamp = name.split("-", 1)[0]
        age = (now_ns - int(stamp)) / 1e9 if stamp.isdigit() else float("inf")
        if name not in spared and age >= retention_seconds:
            expired.append(name)
    return expired


def gc_snapshots(
    paths: WarehousePaths,
    *,
    keep: set[str],
    retention_seconds: float = DEFAULT_RETENTION_SECONDS,
    keep_last: int = DEFAULT_KEEP_LAST,
) -> int:
    """Remove snapshots older than the retention, sparing `keep`, the newest and the current one."""
    removed = 0
    for name in _expired(paths, keep=keep, retention_seconds=retention_seconds, keep_last=keep_last):
        remove_dir(paths.snapshots_root / name, staging_root=paths.staging_root)
        removed += 1
    dirty = paths.mart_versions_root / DIRTY
    if removed or dirty.exists():  # only then can versions have lost the last snapshot listing them
        dirty.unlink(missing_ok=True)
        gc_mart_versions(paths)
    return removed
