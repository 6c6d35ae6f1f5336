"""Landing: archived gzip NDJSON files -> typed, sorted, zstd Parquet lake partitions.

`land_partition` is the entry point; see `land.py` for the flow and `flat.py` for the fast path.
"""

from pipeline.ingest.landing.errors import (
    ArchiveTooLargeError,
    CorruptArchiveError,
    LandingError,
    TooManyRejectsError,
)
from pipeline.ingest.landing.land import LandingOptions, land_partition
from pipeline.ingest.landing.results import LandingResult, TableResult, table_column_schema
from pipeline.ingest.landing.sink import SinkSettings

__all__ = [
    "ArchiveTooLargeError",
    "CorruptArchiveError",
    "LandingError",
    "LandingOptions",
    "LandingResult",
    "SinkSettings",
    "TableResult",
    "TooManyRejectsError",
    "land_partition",
    "table_column_schema",
]
