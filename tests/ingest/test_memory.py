"""Landing switches Arrow to the system pool (glibc, recycled in its heaps: memory.py)."""

from __future__ import annotations

import pyarrow as pa

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
