"""Blocking checks on a staged partition, run before it is swapped into the lake.

A partition that breaks a blocking rule (its schema, or sub-30 stream lengths in seconds) must
never replace a good one: `land_partition` runs these on the staged Parquet
file and, on a failure, keeps the previous version and raises `BlockedByChecksError`, naming the
field, the rule and a few offending rows (personal columns left out). The Dagster assets report
the same outcomes as asset checks.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from pipeline.ingest.landing.errors import LandingError
from pipeline.ingest.landing.personal import shown_columns
from pipeline.ingest.landing.rejects import rejects_root
from pipeline.reports import TableSpec
from pipeline.storage.partition_columns import without_partition_columns
from pipeline.storage.private_files import write_private

SCHEMA_CHECK = "schema_as_declared"
UNIT_CHECK = "stream_length_in_ms"
BLOCKED_FILE = "blocked.json"
SAMPLE_ROWS = 5
SAMPLE_BATCH_ROWS = 65_536
SECONDS_CEILING = 30  # a sub-30 stream in seconds is 0..29
UNIT_MIN_ROWS = 30  # fewer plays say too little about the unit
LENGTH = "stream_length"


@dataclass(frozen=True)
class GateOutcome:
    """One blocking check on one staged table: what was tested, and what broke it if anything."""

    table: str
    check: str
    passed: bool
    field: str
    rule: str
    detail: str
    sample: tuple[dict[str, object], ...] = ()

    def metadata(self) -> dict[str, object]:
        """Plain values for Dagster check metadata and the blocked-report file."""
        return {"field": self.field, "rule": self.rule, "detail": self.detail, "sample": list(self.sample)}


class BlockedByChecksError(LandingError):
    """A blocking check failed on the staged partition: the previous version stays published."""

    def __init__(self, report: str, licensor: str, day: str, failed: list[GateOutcome], sample: Path) -> None:
        named = "; ".join(f"{o.table}.{o.field} breaks {o.check} ({o.rule}): {o.detail}" for o in failed)
        super().__init__(
            f"{report} for licensor {licensor} on {day} not published, the previous version is kept: "
            f"{named}; sample rows in {sample}"
        )
        self.failed = failed
        self.sample_path = sample


def schema_matches(spec: TableSpec, path: Path) -> tuple[bool, str]:
    """The written file's Arrow schema equals the registry's declaration (names, order, types)."""
    actual = without_partition_columns(pq.read_schema(path))  # landing writes them into the file
    if actual.remove_metadata().equals(spec.schema, check_metadata=False):
        return True, "schema as declared"
    expected = {f.name: str(f.type) for f in spec.schema}
    found = {f.name: str(f.type) for f in actual}
    diff = sorted(set(expected.items()) ^ set(found.items()))
    return False, f"schema differs from the declaration: {diff[:10]}"


def stream_length_range(path: Path) -> tuple[int | None, int | None]:
    """Min and max `stream_length` from the Parquet row-group statistics (no data pages read)."""
    meta = pq.ParquetFile(path).metadata
    index = meta.schema.to_arrow_schema().get_field_index(LENGTH)
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


def _sample(
    spec: TableSpec, path: Path, mask_of: Callable[[pa.RecordBatch], pa.Array]
) -> tuple[dict[str, object], ...]:
    """A few rows the mask function flags, without personal columns (they go to Dagster's storage).

    Row groups are streamed one batch at a time and reading stops once the sample is full, so
    memory stays that of one batch whatever the day's size.
    """
    columns = [*shown_columns(spec), "_source_file"]
    rows: list[dict[str, object]] = []
    for batch in pq.ParquetFile(path).iter_batches(batch_size=SAMPLE_BATCH_ROWS, columns=columns):
        rows += batch.filter(mask_of(batch)).slice(0, SAMPLE_ROWS - len(rows)).to_pylist()
        if len(rows) >= SAMPLE_ROWS:
            break
    return tuple({k: _plain(v) for k, v in row.items()} for row in rows)


def _plain(value: object) -> object:
    return value if isinstance(value, int | float | bool | str) or value is None else str(value)


def _unit(spec: TableSpec, path: Path) -> GateOutcome:
    """Sub-30 stream lengths in seconds, from the row-group statistics only (no column is read).

    Why this test: sub-30 lengths in seconds are 0..29, which the line rule (0 <= ms < 30 000)
    cannot tell from milliseconds, so only the day as a whole can. The day fails only when it has
    at least `UNIT_MIN_ROWS` streams and every one is under `SECONDS_CEILING` (30): in
    milliseconds that is every play of the day stopping within 30 ms, before audio output can
    even start, which no real day does. A legitimate sub-30 day cannot fail it: one play of 30 ms
    or more passes it. (The median-under-1-s test it replaces refused days whose plays were
    mostly quick skips, which is what a normal sub-30 day looks like.) Streams of 30 s or more
    need no day test: in seconds every line breaks the line rule (>= 30 000 ms) and the reject
    share refuses the day, each reject saying why.
    """
    low, high = stream_length_range(path)
    rows = pq.ParquetFile(path).metadata.num_rows
    rule = (
        f"some stream_length >= {SECONDS_CEILING} ms when {UNIT_MIN_ROWS}+ rows (milliseconds, not seconds)"
    )
    detail = f"{rows:,} rows, stream_length spans {low}..{high}"
    if high is None or rows < UNIT_MIN_ROWS or high >= SECONDS_CEILING:
        return GateOutcome(spec.name, UNIT_CHECK, True, LENGTH, rule, detail)
    sample = _sample(spec, path, lambda t: pc.fill_null(pc.less(t[LENGTH], SECONDS_CEILING), False))
    detail += ": every value fits in 0..29, the values look like seconds"
    return GateOutcome(spec.name, UNIT_CHECK, False, LENGTH, rule, detail, sample)


def gate_checks(spec: TableSpec, path: Path) -> list[GateOutcome]:
    """Every blocking check of `spec` on the Parquet file at `path` (staged or published).

    Only what no line-level rule can express blocks a day: a schema change and a unit change.
    Out-of-bounds values and missing required fields are rejected lines (the parsers, counted in the
    reject share) and a required field absent from a whole file fails the landing (`fieldcheck.py`).
    """
    passed, detail = schema_matches(spec, path)
    outcomes = [GateOutcome(spec.name, SCHEMA_CHECK, passed, "*", "declared schema", detail)]
    if passed and spec.seconds_check:
        outcomes.append(_unit(spec, path))
    return outcomes


def write_blocked(directory: Path, failed: list[GateOutcome], *, staging_root: Path) -> Path:
    """The failed checks and their sample rows, next to the report-day's rejects."""
    path = directory / BLOCKED_FILE
    document = [{"table": o.table, "check": o.check, **o.metadata()} for o in failed]
    data = (json.dumps(document, indent=1, default=str) + "\n").encode("utf-8")
    # Its samples may quote personal rows: owner-only, like the rejects.
    write_private(path, data, root=rejects_root(directory), staging_root=staging_root)
    return path
