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

from pipeline.reports import STREAMS, SUB30_STREAMS, TRACKS, USERS, TableSpec

OLDEST_BIRTH_YEAR = 1900


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


def bounds_for(spec: TableSpec, day: date) -> tuple[Bound, ...]:
    """The rules of one flat table for a report of `day` (birth years are judged against it)."""
    if spec.name in (STREAMS.name, SUB30_STREAMS.name):
        return (Bound("stream_length", 0, None, "is negative"),)
    if spec.name == USERS.name:
        return (
            Bound(
                "birth_year",
                OLDEST_BIRTH_YEAR,
                day.year,
                f"is before {OLDEST_BIRTH_YEAR}",
                f"is in the future (the report is for {day:%Y-%m-%d})",
            ),
            Bound("account_age_days", 0, None, "is negative"),
        )
    if spec.name == TRACKS.name:
        return (Bound("duration_ms", 1, None, "is not positive"),)
    return ()
