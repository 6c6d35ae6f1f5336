"""Allocator settings that keep landing's resident memory flat without paying for it in system time.

Landing churns through large short-lived buffers (4 MB decompressed blocks, Arrow columns) from
several threads. Arrow's buffers come from glibc (Arrow's system pool), as Python's do: glibc
keeps its default, dynamic mmap threshold (it rises to the largest block freed, up to 32 MB, so
later blocks of that size are recycled inside its heaps instead of mapped and faulted in again)
and two arenas instead of one per short-lived thread; `trim` hands the heaps' free pages back
after a big merge. Measured on the 2 M-row zipf day (three runs each, interleaved): 113-122 k minor
faults and 0.38-0.64 sys-s against 294-318 k and 0.83-1.17 on jemalloc with a 200 ms decay
(which purges freed pages and faults them in again for the next blocks; a 5 s decay: 0.54-0.83
sys-s and ~90 MB more peak RSS), the same peak RSS. (Earlier: the system pool with a fixed 1 MB
mmap threshold mapped every column and cost ~2.5 sys-s per 1.6 M rows.) bench/RESULTS.md,
issue 24 round 3. Round 4: the threshold fixed at its 32 MB ceiling and a 128 MB trim threshold
(the dynamic one trimmed a heap's top past 8 MB, and the next block faulted it in again):
~146-150 k faults instead of ~206-212 k on the 2 M single day, 0.07-0.10 sys/user. Round 5: a load
applies this before its download starts (`load.py`): arenas are capped for threads created after the
call only, and the e2e process had five heaps at its peak, one left by the download 48 MB free.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import threading

import pyarrow as pa

# glibc's mallopt parameter numbers (malloc.h)
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD, _M_ARENA_MAX = -1, -3, -8
# Blocks up to glibc's largest mmap threshold come from its heaps, and up to this much free memory
# at a heap's top is kept for the next blocks instead of handed back and faulted in again (the
# dynamic threshold trims the top past twice the largest block freed: 8 MB, under a 4 MB block and
# a column or two). `trim` still hands everything free back where it is worth it.
_MMAP_THRESHOLD = 32 << 20
_TRIM_THRESHOLD = 128 << 20
_done = threading.Lock()
_applied = False
_libc: ctypes.CDLL | None = None


def return_freed_memory() -> None:
    """Switch Arrow to the system pool (glibc's malloc) and cap glibc's arenas; once per process."""
    global _applied, _libc
    with _done:
        if _applied:
            return
        _applied = True
        pa.set_memory_pool(pa.system_memory_pool())
        name = ctypes.util.find_library("c")
        if name is None:
            return
        try:
            libc = ctypes.CDLL(name)
            libc.mallopt(_M_ARENA_MAX, 2)  # not one heap per short-lived inflate/parse thread
            libc.mallopt(_M_MMAP_THRESHOLD, _MMAP_THRESHOLD)
            libc.mallopt(_M_TRIM_THRESHOLD, _TRIM_THRESHOLD)
            _libc = libc
        except (OSError, AttributeError):  # not glibc (musl, macOS): their defaults apply
            pass


def trim() -> None:
    """Hand free pages inside glibc's heaps back to the OS (after a big flush: the heap is holey)."""
    if _libc is not None:
        _libc.malloc_trim(0)
