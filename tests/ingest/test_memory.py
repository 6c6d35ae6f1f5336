"""Landing switches Arrow to the system pool (glibc, recycled in its heaps: memory.py)."""

from __future__ import annotations

import ctypes
import ctypes.util
import subprocess
import sys
from pathlib import Path

import pyarrow as pa
import pytest

from pipeline.ingest.landing import land_partition
from pipeline.ingest.landing.memory import return_freed_memory, trim
from pipeline.reports import report_by_name
from tests.kits.ndjson import stream_records

from .conftest import DAY, LICENSOR

ROOT = Path(__file__).resolve().parents[2]


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


_COUNT_HEAPS = """
import ctypes, ctypes.util, re, sys, tempfile, threading
from pipeline.ingest.landing.memory import return_freed_memory
if sys.argv[1] == "settled":
    return_freed_memory()
libc = ctypes.CDLL(ctypes.util.find_library("c"))
libc.malloc.restype, libc.malloc.argtypes = ctypes.c_void_p, [ctypes.c_size_t]
libc.free.argtypes = [ctypes.c_void_p]
ready = threading.Barrier(4)
def work():
    block = libc.malloc(1 << 20)
    ready.wait()  # all four threads alive at once: each would get a heap of its own
    libc.free(block)
threads = [threading.Thread(target=work) for _ in range(4)]
for t in threads: t.start()
for t in threads: t.join()
libc.fopen.restype, libc.fopen.argtypes = ctypes.c_void_p, [ctypes.c_char_p, ctypes.c_char_p]
libc.malloc_info.argtypes, libc.fclose.argtypes = [ctypes.c_int, ctypes.c_void_p], [ctypes.c_void_p]
with tempfile.NamedTemporaryFile(suffix=".xml") as out:
    fh = libc.fopen(out.name.encode(), b"w"); libc.malloc_info(0, fh); libc.fclose(fh)
    print(len(re.findall('<heap nr=', open(out.name).read())))
"""


def test_threads_started_after_the_allocator_is_set_share_two_heaps():
    """The download's and landing's threads, started after `return_freed_memory` (a load calls it
    before downloading), share two glibc heaps: with a heap per thread, each kept its own free memory
    (round 5: five heaps in the e2e process, 300 MB free inside them at its peak)."""
    name = ctypes.util.find_library("c")
    if name is None or not hasattr(ctypes.CDLL(name), "malloc_info"):
        pytest.skip("glibc only (its malloc is what is tuned)")

    def heaps(mode: str) -> int:
        done = subprocess.run(
            [sys.executable, "-c", _COUNT_HEAPS, mode], cwd=ROOT, capture_output=True, text=True, timeout=120
        )
        assert done.returncode == 0, done.stderr
        return int(done.stdout.split()[-1])

    assert heaps("settled") <= 2
    assert heaps("default") >= 4  # the same threads without it: the test can tell the difference
