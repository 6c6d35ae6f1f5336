"""Landing switches Arrow to the system pool (glibc, recycled in its heaps: memory.py)."""

from __future__ import annotations

import ctypes
import ctypes.util

import pyarrow as pa
import pytest

from pipeline.ingest.landing import land_partition
from pipeline.ingest.landing.memory import return_freed_memory, trim
from pipeline.reports import report_by_name
from tests.kits.ndjson import stream_records

from .conftest import DAY, LICENSOR


def test_landing_uses_the_system_pool_and_trims(layout, archive):
    land_partition(
        layout, report_by_name("streams"), LICENSOR, DAY, [archive("streams", "US.gz", stream_records(5))]
    )
    assert pa.default_memory_pool().backend_name == "system"
    return_freed_memory()  # idempotent
    trim()
    assert pa.default_memory_pool().backend_name == "system"


class _MallInfo2(ctypes.Structure):
    _fields_ = [
        (name, ctypes.c_size_t)
        for name in ("arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks", "uordblks")
    ] + [("fordblks", ctypes.c_size_t), ("keepcost", ctypes.c_size_t)]


def test_glibc_keeps_block_sized_memory_in_its_heap_instead_of_mapping_and_trimming_it():
    """Blocks of tens of MB come from the heap (not fresh mappings faulted in page by page), and a
    freed heap top of ~100 MB stays for the next blocks until `trim` (round 4: ~30 % fewer faults)."""
    name = ctypes.util.find_library("c")
    libc = ctypes.CDLL(name) if name else None
    if libc is None or not hasattr(libc, "mallinfo2"):
        pytest.skip("glibc >= 2.33 only (its malloc is what is tuned)")
    libc.mallinfo2.restype = _MallInfo2
    libc.malloc.restype, libc.malloc.argtypes = ctypes.c_void_p, [ctypes.c_size_t]
    libc.free.argtypes = [ctypes.c_void_p]
    return_freed_memory()
    before = libc.mallinfo2()
    blocks = [libc.malloc(24 << 20) for _ in range(4)]
    during = libc.mallinfo2()
    for block in reversed(blocks):
        libc.free(block)
    after = libc.mallinfo2()
    trim()
    assert during.hblkhd == before.hblkhd  # nothing mapped on its own (glibc's default: 24 MB each)
    assert after.arena - before.arena >= 90 << 20  # the freed top kept (default: trimmed at once)
