"""Blocking checks on a staged partition, run before it is swapped into the lake.

A partition that breaks a blocking rule (schema, stream-length bounds, stream lengths in seconds,
required fields) must never replace a good one: `land_partition` runs these on the staged Parquet
file and, on a failure, keeps the previous version and raises `BlockedByChecksError`, naming the
field, the rule and a few offending rows (personal columns left out). The Dagster assets report
the same outcomes as asset checks.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from pipeline.ingest.landing.errors import LandingError
from pipeline.ingest.landing.personal import shown_columns
from pipeline.ingest.landing.rejects import rejects_root
from pipeline.private_files import write_private
from pipeline.reports import TableSpec

SCHEMA_CHECK = "schema_as_declared"
REQUIRED_CHECK = "required_fields_present"
UNIT_CHECK = "stream_length_in_ms"
BLOCKED_FILE = "blocked.json"
SAMPLE_ROWS = 5
# A median stream under one second is not a listening pattern: the lengths are in seconds.
MIN_MEDIAN_MS = 1_000
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


def _sample(spec: TableSpec, path: Path, mask_of: object) -> tuple[dict[str, object], ...]:
    """A few rows the mask function flags, without personal columns (they go to Dagster's storage)."""
    columns = [*shown_columns(spec), "_source_file"]
    table = pq.read_table(path, columns=columns)
    rows = table.filter(mask_of(table)).slice(0, SAMPLE_ROWS).to_pylist()  # type: ignore[operator]
    return tuple({k: _plain(v) for k, v in row.items()} for row in rows)


def _plain(value: object) -> object:
    return value if isinstance(value, int | float | bool | str) or value is None else str(value)


def _required(spec: TableSpec, path: Path) -> GateOutcome:
    meta = pq.ParquetFile(path).metadata
    names = meta.schema.to_arrow_schema().names
    nulls = {name: 0 for name in spec.required}
    missing = [name for name in spec.required if name not in names]
    for rg in range(meta.num_row_groups):
        for name in spec.required:
            if name in names:
                stats = meta.row_group(rg).column(names.index(name)).statistics
                nulls[name] += stats.null_count if stats is not None and stats.has_null_count else 0
    broken = missing or [name for name, n in nulls.items() if n]
    if not broken:
        return GateOutcome(
            spec.name, REQUIRED_CHECK, True, ",".join(spec.required), "not null", "all present"
        )
    name = broken[0]
    if name in missing:
        return GateOutcome(spec.name, REQUIRED_CHECK, False, name, "column present", "column missing")
    sample = _sample(spec, path, lambda t: pc.is_null(t[name]))
    return GateOutcome(
        spec.name, REQUIRED_CHECK, False, name, "not null", f"{nulls[name]:,} rows without it", sample
    )


def _length_bounds(spec: TableSpec, path: Path) -> GateOutcome:
    rule = spec.length_rule
    assert rule is not None
    low, high = stream_length_range(path)
    bounds = " and ".join(
        part
        for part in (
            f">= {rule.at_least_ms} ms" if rule.at_least_ms is not None else "",
            f"< {rule.under_ms} ms" if rule.under_ms is not None else "",
        )
        if part
    )
    detail = f"stream_length spans {low}..{high}"
    if rule.holds(low, high):
        return GateOutcome(spec.name, rule.check, True, LENGTH, bounds, detail)

    def outside(table: pa.Table) -> pa.ChunkedArray:
        tests = []
        if rule.at_least_ms is not None:
            tests.append(pc.less(table[LENGTH], rule.at_least_ms))
        if rule.under_ms is not None:
            tests.append(pc.greater_equal(table[LENGTH], rule.under_ms))
        return pc.fill_null(tests[0] if len(tests) == 1 else pc.or_(*tests), False)

    return GateOutcome(spec.name, rule.check, False, LENGTH, bounds, detail, _sample(spec, path, outside))


def _unit(spec: TableSpec, path: Path) -> GateOutcome:
    column = pq.read_table(path, columns=[LENGTH])[LENGTH]
    median = pc.approximate_median(column).as_py() if len(column) else None
    rule = f"median >= {MIN_MEDIAN_MS} ms (lengths are milliseconds, not seconds)"
    if median is None or median >= MIN_MEDIAN_MS:
        return GateOutcome(spec.name, UNIT_CHECK, True, LENGTH, rule, f"median {median}")
    sample = _sample(spec, path, lambda t: pc.fill_null(pc.less(t[LENGTH], MIN_MEDIAN_MS), False))
    detail = f"median stream_length is {median:g}: the values look like seconds"
    return GateOutcome(spec.name, UNIT_CHECK, False, LENGTH, rule, detail, sample)


def gate_checks(spec: TableSpec, path: Path) -> list[GateOutcome]:
    """Every blocking check of `spec` on the Parquet file at `path` (staged or published)."""
    passed, detail = schema_matches(spec, path)
    outcomes = [GateOutcome(spec.name, SCHEMA_CHECK, passed, "*", "declared schema", detail)]
    if not passed:
        return outcomes  # the other rules read columns the schema may not have
    outcomes.append(_required(spec, path))
    if spec.length_rule is not None:
        outcomes += [_length_bounds(spec, path), _unit(spec, path)]
    return outcomes


def write_blocked(directory: Path, failed: list[GateOutcome], *, staging_root: Path) -> Path:
    """The failed checks and their sample rows, next to the report-day's rejects."""
    path = directory / BLOCKED_FILE
    document = [{"table": o.table, "check": o.check, **o.metadata()} for o in failed]
    data = (json.dumps(document, indent=1, default=str) + "\n").encode("utf-8")
    # Its samples may quote personal rows: owner-only, like the rejects.
    write_private(path, data, root=rejects_root(directory), staging_root=staging_root)
    return path
