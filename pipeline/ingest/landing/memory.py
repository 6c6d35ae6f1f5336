"""Allocator settings that keep landing's resident memory flat without paying for it in system time.

Landing churns through large short-lived buffers (4 MB decompressed blocks, Arrow columns) from
several threads. Arrow's buffers come from jemalloc with a short decay: freed pages are reused
for the next blocks for a moment, then handed back to the OS, so the peak stays near that of the
live data while pages are not unmapped and faulted in again block after block (decay 0 does that:
the same system time as before). (Before: Arrow on
glibc's system pool with every allocation over 1 MB mmapped: the same peak, but a page fault per
4 KB of every buffer, ~2.5 s of system time per 1.6 M streams rows, a quarter of the user time.)
glibc keeps its default mmap threshold (it rises to the block size, so Python's 4 MB blocks are
recycled in its heap) and two arenas instead of one per short-lived thread.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import threading

import pyarrow as pa

_M_ARENA_MAX = -8  # glibc's mallopt parameter number
DECAY_MS = 200  # how long jemalloc keeps freed pages for reuse (1 s: same CPU, +35 MB peak)
_done = threading.Lock()
_applied = False
_libc: ctypes.CDLL | None = None


def _arrow_pool() -> pa.MemoryPool:
    """jemalloc with a short decay where the Arrow build has it, else the system allocator."""
    try:
        pool = pa.jemalloc_memory_pool()
        pa.jemalloc_set_decay_ms(DECAY_MS)
    except (NotImplementedError, pa.ArrowNotImplementedError):
        return pa.system_memory_pool()
    return pool


def return_freed_memory() -> None:
    """Switch Arrow to `_arrow_pool()` and cap glibc's arenas; once per process."""
    global _applied, _libc
    with _done:
        if _applied:
            return
        _applied = True
        pa.set_memory_pool(_arrow_pool())
        name = ctypes.util.find_library("c")
        if name is None:
            return
        try:
            libc = ctypes.CDLL(name)
            libc.mallopt(_M_ARENA_MAX, 2)  # not one heap per short-lived inflate/parse thread
            _libc = libc
        except (OSError, AttributeError):  # not glibc (musl, macOS): their defaults apply
            pass


def trim() -> None:
    """Hand free pages inside glibc's heaps back to the OS (after a big flush: the heap is holey)."""
    if _libc is not None:
        _libc.malloc_trim(0)
