"""Hard-link trees of Parquet files: how a snapshot holds a table's files without copying them.

A partition that did not change since the last snapshot costs a listing of each side, or, when the
caller knows which version of each lake directory a tree already links (`Linked`), one `stat`:
landing publishes a partition by swapping its directory in whole and never writes a file in place,
so a directory with the same inode and mtime holds the same files. Across filesystems a link
becomes a copy with size and time kept, so it still compares as the same version.
"""

from __future__ import annotations

import errno
import os
import shutil
from collections.abc import Mapping
from pathlib import Path

from pipeline.warehouse.paths import partition_dirs

LINK_RETRIES = 5
Identity = tuple[int, int]  # (inode, mtime_ns) of a partition directory: a swap or a write changes it
Linked = dict[str, Identity]  # "licensor=…/date=…" -> the identity of the source directory linked


def directory_identity(directory: Path) -> Identity | None:
    try:
        st = os.stat(directory)
    except FileNotFoundError:
        return None
    return st.st_ino, st.st_mtime_ns


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


def link_tree(
    source_root: Path,
    target_root: Path,
    *,
    partitioned: bool,
    known: Mapping[str, Identity] | None = None,
    linked: Linked | None = None,
) -> int:
    """Make `target_root` link one table's Parquet files (and nothing else); returns files linked.

    `known`: what `target_root` links already, as recorded in `linked` when it was made; a partition
    whose source directory still has that identity (and whose target is still there) is skipped
    without listing either side. `linked` receives the identities of what this call linked; each is
    read before its directory is listed, so a swap meanwhile only makes the next call relink it.
    """
    if not partitioned:
        return _link_partition(source_root, target_root)
    live = {f"licensor={lic}/date={day:%Y-%m-%d}": d for lic, day, d in partition_dirs(source_root)}
    if known is None:
        stale = [f"licensor={lic}/date={day:%Y-%m-%d}" for lic, day, _ in partition_dirs(target_root)]
    else:
        stale = list(known)
    for relative in stale:
        if relative not in live:  # gone from the lake since a recycled tree was made
            shutil.rmtree(target_root / relative, ignore_errors=True)
    count = 0
    for relative, directory in live.items():
        identity = directory_identity(directory)
        target = target_root / relative
        if identity is None or known is None or known.get(relative) != identity or not target.is_dir():
            count += _link_partition(directory, target)
        if linked is not None and identity is not None:
            linked[relative] = identity
    return count
