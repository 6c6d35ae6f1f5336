"""Atomic, idempotent writes: build beside the final place, then rename into it.

Readers see either the previous version of a file or partition or the new one, never a mix, and a
crash leaves the previous version in place. Directories are swapped with `renameat2(RENAME_EXCHANGE)`
where the kernel offers it (one atomic step); elsewhere with two renames, where the only window is a
moment in which the partition is absent, never half-written.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import ctypes.util
import fcntl
import os
import shutil
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import IO

_AT_FDCWD = -100
_RENAME_EXCHANGE = 2


def _load_renameat2():  # noqa: ANN202 - ctypes function object
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        fn = libc.renameat2
    except (OSError, AttributeError):
        return None
    fn.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
    fn.restype = ctypes.c_int
    return fn


_renameat2 = _load_renameat2()


def _exchange(a: Path, b: Path) -> bool:
    """Swap two existing paths atomically; False when the platform cannot."""
    if _renameat2 is None:
        return False
    rc = _renameat2(_AT_FDCWD, os.fsencode(a), _AT_FDCWD, os.fsencode(b), _RENAME_EXCHANGE)
    return rc == 0


def fsync_dir(path: Path) -> None:
    """Make a rename in `path` durable."""
    with contextlib.suppress(OSError):
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


@contextlib.contextmanager
def staging_dir(staging_root: Path) -> Iterator[Path]:
    """A fresh scratch directory under `staging_root`, removed afterwards whatever happens."""
    staging_root.mkdir(parents=True, exist_ok=True)
    path = staging_root / uuid.uuid4().hex
    path.mkdir()
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def publish_dir(built: Path, final: Path, *, staging_root: Path) -> None:
    """Move the finished directory `built` to `final`, replacing any previous version atomically.

    `built` must be on the same filesystem as `final` (build it under `staging_root`).
    """
    final.parent.mkdir(parents=True, exist_ok=True)
    if final.exists():
        if not _exchange(built, final):
            graveyard = staging_root / f"{uuid.uuid4().hex}.old"
            os.rename(final, graveyard)
            os.rename(built, final)
            shutil.rmtree(graveyard, ignore_errors=True)
        else:
            shutil.rmtree(built, ignore_errors=True)  # `built` now holds the previous version
    else:
        os.rename(built, final)
    fsync_dir(final.parent)


def remove_dir(final: Path, *, staging_root: Path) -> None:
    """Remove a published directory atomically (rename away, then delete)."""
    if not final.exists():
        return
    staging_root.mkdir(parents=True, exist_ok=True)
    graveyard = staging_root / f"{uuid.uuid4().hex}.old"
    os.rename(final, graveyard)
    fsync_dir(final.parent)
    shutil.rmtree(graveyard, ignore_errors=True)


def _open_for_writing(path: Path) -> IO[bytes]:
    return open(path, "wb")


def atomic_write_bytes(
    path: Path,
    data: bytes,
    *,
    staging_root: Path | None = None,
    opener: Callable[[Path], IO[bytes]] | None = None,
) -> None:
    """Write a file through a temporary sibling (or a file in `staging_root`, on the same
    filesystem, so a killed writer leaves nothing next to `path`) and rename it into place.
    `opener` opens the temporary file (e.g. created 0600 for private files; default: `open(wb)`)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if staging_root is not None:
        staging_root.mkdir(parents=True, exist_ok=True)
        tmp = staging_root / f".{path.name}.{uuid.uuid4().hex}.tmp"
    else:
        tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
    try:
        with (opener or _open_for_writing)(tmp) as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
    fsync_dir(path.parent)


@contextlib.asynccontextmanager
async def exclusive_lock_async(lock_path: Path, *, poll_seconds: float = 0.05) -> AsyncIterator[None]:
    """`exclusive_lock` for coroutines: waits by polling, so the event loop keeps serving others.

    (A blocking `flock` would freeze the loop, and deadlock it if a task of the same loop holds it.)
    """
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    with open(lock_path, "a+b") as fh:
        while True:
            try:
                fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                await asyncio.sleep(poll_seconds)
        try:
            yield
        finally:
            fcntl.flock(fh.fileno(), fcntl.LOCK_UN)


@contextlib.contextmanager
def exclusive_lock(lock_path: Path) -> Iterator[None]:
    """Hold an exclusive advisory lock so two writers of one partition take turns, never interleave."""
    with file_lock(lock_path):
        yield


@contextlib.contextmanager
def file_lock(lock_path: Path, *, shared: bool = False, wait: bool = True) -> Iterator[bool]:
    """An advisory lock on `lock_path`, shared (many holders) or exclusive; whether it is held.
    With `wait=False` it is not waited for: the body runs either way and is told `False`."""
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    with open(lock_path, "a+b") as fh:
        mode = (fcntl.LOCK_SH if shared else fcntl.LOCK_EX) | (0 if wait else fcntl.LOCK_NB)
        try:
            fcntl.flock(fh.fileno(), mode)
        except BlockingIOError:
            held = False
        else:
            held = True
        try:
            yield held
        finally:
            if held:
                fcntl.flock(fh.fileno(), fcntl.LOCK_UN)
