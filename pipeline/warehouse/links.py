"""Hard-link trees of Parquet files: how a snapshot holds a table's files without copying them.

A partition that did not change since the last snapshot costs a listing of each side; across
filesystems a link becomes a copy with size and time kept, so it still compares as the same version.
"""

from __future__ import annotations

import errno
import os
import shutil
from pathlib import Path

from pipeline.warehouse.paths import partition_dirs

LINK_RETRIES = 5


def link_file(source: Path, target: Path) -> None:
    try:
        os.link(source, target)
    except OSError as exc:
        if exc.errno != errno.EXDEV:
            raise
        shutil.copy2(source, target)  # another filesystem: copy instead


def parquet_files(directory: Path) -> dict[str, tuple[int, int, int]] | None:
    """{name: (size, mtime_ns, inode)} of a directory's Parquet files; None if it is absent."""
    try:
        with os.scandir(directory) as entries:
            found = [(e.name, e.stat()) for e in entries if e.name.endswith(".parquet")]
    except FileNotFoundError:
        return None
    return {name: (st.st_size, st.st_mtime_ns, st.st_ino) for name, st in found}


def same_version(a: tuple[int, int, int] | None, b: tuple[int, int, int] | None) -> bool:
    """The same file version: a link, or the copy made across filesystems (size and time kept)."""
    return a is not None and b is not None and a[:2] == b[:2]


def _link_partition(source_dir: Path, target_dir: Path) -> int:
    """Make `target_dir` hold links to exactly `source_dir`'s Parquet files; returns files linked.

    Files already there (same name, same version) are left alone, so an unchanged partition costs a
    listing of each side. Retried when a concurrent publish swaps the source meanwhile.
    """
    for _attempt in range(LINK_RETRIES):
        want = parquet_files(source_dir)
        if want is None:
            shutil.rmtree(target_dir, ignore_errors=True)
            return 0
        have = parquet_files(target_dir)
        if (
            have is not None
            and have.keys() == want.keys()
            and all(same_version(have[n], want[n]) for n in want)
        ):
            return 0
        if have is None:
            target_dir.mkdir(parents=True, exist_ok=True)
            have = {}
        try:
            for name, version in have.items():
                if not same_version(version, want.get(name)):
                    (target_dir / name).unlink()
            linked = [name for name, version in want.items() if not same_version(have.get(name), version)]
            for name in linked:
                link_file(source_dir / name, target_dir / name)
            now = parquet_files(target_dir) or {}
        except FileNotFoundError:
            continue
        if all(same_version(now.get(name), want[name]) for name in linked):  # not swapped while linking
            return len(linked)
    raise RuntimeError(f"partition {source_dir} kept changing while it was being snapshotted")


def link_tree(source_root: Path, target_root: Path, *, partitioned: bool) -> int:
    """Make `target_root` link one table's Parquet files (and nothing else); returns files linked."""
    if not partitioned:
        return _link_partition(source_root, target_root)
    live = {(lic, day): d for lic, day, d in partition_dirs(source_root)}
    for licensor, day, directory in partition_dirs(target_root):
        if (licensor, day) not in live:  # gone from the lake since a recycled tree was made
            shutil.rmtree(directory, ignore_errors=True)
    linked = 0
    for (licensor, day), directory in live.items():
        linked += _link_partition(directory, target_root / f"licensor={licensor}" / f"date={day:%Y-%m-%d}")
    return linked
