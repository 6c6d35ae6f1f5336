"""Snapshots: a build reuses an expired snapshot's tree, and ends up linking exactly the lake."""

from __future__ import annotations

import errno
import json
import os
import time
from datetime import date, timedelta
from pathlib import Path

from pipeline.dates import DateWindow
from pipeline.layout import Layout
from pipeline.warehouse import links
from pipeline.warehouse.build import BuildResult, build_warehouse
from pipeline.warehouse.catalog import open_catalog
from pipeline.warehouse.paths import WarehousePaths
from pipeline.warehouse.snapshot import (
    DEFAULT_KEEP_LAST,
    DEFAULT_RETENTION_SECONDS,
    LAKE_MANIFEST,
    MARTS_MANIFEST,
    _expired,
)
from tests.kits.fake_lake import LICENSORS, delete_day, read_lake, write_day
from tests.kits.warehouse import mart_fingerprints


def _tree(root: Path) -> dict[str, int]:
    """Inode of every file under `root`, by relative path."""
    return {str(p.relative_to(root)): p.stat().st_ino for p in sorted(root.rglob("*")) if p.is_file()}


def _age_all_but_current(paths: WarehousePaths) -> None:
    """Make every snapshot but the published one older than the retention (its name is its age)."""
    current = paths.current_pointer.read_text().strip()
    old = time.time_ns() - int(2 * DEFAULT_RETENTION_SECONDS * 1e9)
    for i, snapshot in enumerate(sorted(paths.snapshots_root.iterdir())):
        if snapshot.name != current:
            snapshot.rename(snapshot.with_name(f"{old + i:020d}-{snapshot.name.split('-', 1)[1]}"))


def test_an_expired_snapshot_is_reused_and_matches_the_lake(
    layout: Layout, built: BuildResult, built_days: list[date]
):
    paths = WarehousePaths(layout)
    last = DateWindow(built_days[-1], built_days[-1])
    for _ in range(4):
        assert build_warehouse(layout, last).passed
    _age_all_but_current(paths)
    expired = _expired(paths, keep=set())
    assert len(expired) == 2  # five snapshots, the newest three spared
    recyclable = _expired(paths, keep=set(), keep_last=DEFAULT_KEEP_LAST - 1)  # the new one will be newest
    assert recyclable[:-1] == expired
    reused = (paths.snapshots_root / recyclable[-1] / "lake").stat().st_ino

    write_day(layout, "acme", built_days[1], variant=3)  # changed, gone and new partitions
    delete_day(layout, "globex", built_days[2])
    new_day = built_days[-1] + timedelta(days=1)
    for licensor in LICENSORS:
        write_day(layout, licensor, new_day)
    result = build_warehouse(layout, DateWindow(built_days[1], new_day))
    assert result.passed, result.failed_checks

    snapshot = result.snapshot
    assert snapshot is not None and (snapshot / "lake").stat().st_ino == reused  # the old tree, reused
    assert _tree(snapshot / "lake") == _tree(layout.lake_root)  # the lake's very files, nothing else
    assert sorted(p.name for p in snapshot.iterdir()) == sorted(["lake", LAKE_MANIFEST, MARTS_MANIFEST])
    assert not any(name in (p.name for p in paths.snapshots_root.iterdir()) for name in recyclable)
    listed = {v for s in paths.snapshots_root.iterdir() for v in json.loads((s / MARTS_MANIFEST).read_text())}
    versions = paths.mart_versions_root
    assert {str(p.relative_to(versions)) for p in versions.rglob("*.parquet")} == listed  # collected
    con = open_catalog(layout.warehouse_path)
    try:
        counts = con.execute(
            "SELECT count(*), (SELECT sum(streams) FROM fct_daily_streams) FROM lake.streams"
        )
        assert counts.fetchone() == (len(read_lake(layout, "streams")),) * 2
    finally:
        con.close()


def test_daily_builds_recycle_the_snapshot_gc_would_remove(
    layout: Layout, built: BuildResult, built_days: list[date]
):
    """In steady state (the newest three kept, the others older than the retention) every build
    reuses the tree that would otherwise be deleted right after it, instead of linking a new one."""
    paths = WarehousePaths(layout)
    last = DateWindow(built_days[-1], built_days[-1])
    for _ in range(DEFAULT_KEEP_LAST - 1):
        assert build_warehouse(layout, last).passed
    for _ in range(3):  # a day apart: every snapshot but the current one is past the retention
        _age_all_but_current(paths)
        before = sorted(paths.snapshots_root.iterdir())
        assert len(before) == DEFAULT_KEEP_LAST
        oldest_tree = (before[0] / "lake").stat().st_ino
        result = build_warehouse(layout, last)
        assert result.passed and result.snapshot is not None
        assert (result.snapshot / "lake").stat().st_ino == oldest_tree
        assert len(list(paths.snapshots_root.iterdir())) == DEFAULT_KEEP_LAST


def test_a_recycled_tree_lists_only_the_partitions_the_lake_changed(
    layout: Layout, built: BuildResult, built_days: list[date], monkeypatch
):
    """Unchanged lake partitions cost a stat, not a listing: the one-day build stays flat in history.

    Changed are: a day re-landed (its directory swapped), a file written into a partition in place,
    and a partition the recycled tree lost meanwhile (retention removes days from snapshots).
    """
    paths = WarehousePaths(layout)
    last = DateWindow(built_days[-1], built_days[-1])
    for _ in range(4):
        assert build_warehouse(layout, last).passed
    _age_all_but_current(paths)
    recycled = paths.snapshots_root / _expired(paths, keep=set(), keep_last=DEFAULT_KEEP_LAST - 1)[-1]
    reused = (recycled / "lake").stat().st_ino

    write_day(layout, "acme", built_days[1], variant=3)
    in_place = layout.lake_table("streams") / "licensor=globex" / f"date={built_days[0]}"
    first = next(in_place.glob("*.parquet"))
    (in_place / "part-extra.parquet").write_bytes(first.read_bytes())
    lost = recycled / "lake" / "users" / "licensor=globex" / f"date={built_days[2]}"
    assert lost.is_dir()
    for path in lost.iterdir():
        path.unlink()
    lost.rmdir()

    listed: list[Path] = []
    link_partition = links._link_partition
    monkeypatch.setattr(links, "_link_partition", lambda s, t: listed.append(s) or link_partition(s, t))
    result = build_warehouse(layout, last)
    assert result.passed, result.failed_checks
    assert result.snapshot is not None and (result.snapshot / "lake").stat().st_ino == reused
    relisted = {str(p.relative_to(layout.lake_root)) for p in listed if p.parent.name.startswith("licensor=")}
    changed_tables = {
        p.parent.parent.name for p in layout.lake_root.glob(f"*/licensor=acme/date={built_days[1]}")
    }
    assert relisted == {f"{t}/licensor=acme/date={built_days[1]}" for t in changed_tables} | {
        f"streams/licensor=globex/date={built_days[0]}",
        f"users/licensor=globex/date={built_days[2]}",
    }
    assert _tree(result.snapshot / "lake") == _tree(layout.lake_root)  # exactly the lake's files


def test_without_an_expired_snapshot_a_new_tree_is_linked(layout: Layout, built: BuildResult, built_days):
    last = DateWindow(built_days[-1], built_days[-1])
    first = build_warehouse(layout, last)
    second = build_warehouse(layout, last)
    assert first.snapshot and second.snapshot and first.snapshot.exists()  # younger than the retention
    assert (second.snapshot / "lake").stat().st_ino != (first.snapshot / "lake").stat().st_ino
    assert _tree(second.snapshot / "lake") == _tree(layout.lake_root)
    assert os.path.samefile(
        next((second.snapshot / "lake" / "streams").rglob("*.parquet")),
        next(layout.lake_table("streams").rglob("*.parquet")),
    )


def test_across_filesystems_files_are_copied(layout: Layout, built: BuildResult, built_days, monkeypatch):
    """Where hard links fail (EXDEV), snapshots and mart versions are copies, and builds still pass."""

    def cross_device(*_args: object, **_kwargs: object) -> None:
        raise OSError(errno.EXDEV, "Invalid cross-device link")

    last = DateWindow(built_days[-1], built_days[-1])
    assert build_warehouse(layout, last).passed
    expected = mart_fingerprints(layout)
    monkeypatch.setattr(os, "link", cross_device)
    for _ in range(2):
        result = build_warehouse(layout, last)
        assert result.passed and result.snapshot is not None
        assert mart_fingerprints(layout) == expected
    copied = next((result.snapshot / "lake" / "streams").rglob("*.parquet"))
    assert copied.stat().st_nlink == 1  # a copy, not a link
