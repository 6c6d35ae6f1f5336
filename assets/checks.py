"""Quality rules for landed partitions, evaluated on the written Parquet files.

Plain functions returning (passed, description, metadata) so the report assets can attach them as
blocking `check_specs` results without re-reading anything they just wrote more than needed.
"""

from __future__ import annotations

from pathlib import Path

import pyarrow.parquet as pq

from pipeline.reports import TableSpec


def schema_matches(spec: TableSpec, path: Path) -> tuple[bool, str]:
    """The written file's Arrow schema equals the registry's declaration (names, order, types)."""
    actual = pq.read_schema(path)
    if actual.remove_metadata().equals(spec.schema, check_metadata=False):
        return True, "schema as declared"
    expected = {f.name: str(f.type) for f in spec.schema}
    found = {f.name: str(f.type) for f in actual}
    diff = sorted(set(expected.items()) ^ set(found.items()))
    return False, f"schema differs from the declaration: {diff[:10]}"


def stream_length_range(path: Path) -> tuple[int | None, int | None]:
    """Min and max `stream_length` from the Parquet row-group statistics (no data pages read)."""
    meta = pq.ParquetFile(path).metadata
    index = meta.schema.to_arrow_schema().get_field_index("stream_length")
    low: int | None = None
    high: int | None = None
    for rg in range(meta.num_row_groups):
        stats = meta.row_group(rg).column(index).statistics
        if stats is None or not stats.has_min_max:
            if meta.row_group(rg).num_rows:
                raise ValueError(f"{path}: row group {rg} has no stream_length statistics")
            continue
        low = stats.min if low is None else min(low, stats.min)
        high = stats.max if high is None else max(high, stats.max)
    return low, high
