"""Plausibility rules: values that parse and cast but cannot be true are rejected, with a reason.

A negative stream length or a birth year after the report's day is not schema drift but a broken
record; landing it would silently skew every mart built on it. Each rule is a numeric range per
field, checked on whole Arrow columns on the fast path (no Python per row) and per record on the
slow path, with the same reason text either way.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import pyarrow as pa
import pyarrow.compute as pc

from pipeline.reports import REPORT_YEAR, FieldBound, TableSpec


@dataclass(frozen=True)
class Bound:
    """An inclusive range for one numeric field, with what to say about a value below or above it."""

    field: str
    low: int | None
    high: int | None
    below: str  # e.g. "is negative"
    above: str = ""  # e.g. "is in the future (the report is for 2026-11-20)"

    def violation(self, value: int | None) -> str | None:
        """The reject reason for `value`, or None when it is null or within range."""
        if value is None:
            return None
        if self.low is not None and value < self.low:
            return f"field {self.field!r}: {value} {self.below}"
        if self.high is not None and value > self.high:
            return f"field {self.field!r}: {value} {self.above}"
        return None

    def outside(self, column: pa.ChunkedArray | pa.Array) -> pa.ChunkedArray | pa.Array:
        """A boolean mask of the values out of range (nulls are never out of range)."""
        tests = []
        if self.low is not None:
            tests.append(pc.less(column, pa.scalar(self.low, column.type)))
        if self.high is not None:
            tests.append(pc.greater(column, pa.scalar(self.high, column.type)))
        mask = tests[0] if len(tests) == 1 else pc.or_(tests[0], tests[1])
        return pc.fill_null(mask, False)


def _below(bound: FieldBound) -> str:
    if bound.below:
        return bound.below
    if bound.low == 0:
        return "is negative"
    if bound.low == 1:
        return "is not positive"
    return f"is before {bound.low}"


def bounds_for(spec: TableSpec, day: date) -> tuple[Bound, ...]:
    """The registry's rules of one flat table for a report of `day` (years are judged against it)."""
    rules = []
    for bound in spec.bounds:
        if bound.high == REPORT_YEAR:
            high, above = day.year, f"is in the future (the report is for {day:%Y-%m-%d})"
        else:
            high, above = bound.high, bound.above or f"is above {bound.high}"
        rules.append(Bound(bound.field, bound.low, high, _below(bound), above))  # type: ignore[arg-type]
    return tuple(rules)
