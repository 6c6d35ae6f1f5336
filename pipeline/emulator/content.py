"""Content faults: deterministic changes to the lines of served files.

Malformed lines and schema drift are applied while a day's files are generated (see
`gzlines.LineMutator`), at fixed line positions, so a faulty day is as reproducible as a clean one.
The faults are part of the cache key (`content_key`): a faulty day never replaces a clean one.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from pipeline.emulator.faults import Fault
from pipeline.emulator.gzlines import LineMutator

_STRIDE = 5  # faulty lines are the 2nd, 7th, 12th... of a file
DEFAULT_EXTRA_FIELD = "new_metric"
# The optional field dropped, and the field given a wrong type, per report, unless `field=` says.
_MISSING = {
    "streams": "region_code",
    "sub_30_sec_streams": "region_code",
    "users": "account_age_days",
    "tracks": "label",
    "aggregatedstreams": "listeners",
}
_WRONG_TYPE = {
    "streams": "stream_length",
    "sub_30_sec_streams": "stream_length",
    "users": "birth_year",
    "tracks": "duration_ms",
    "aggregatedstreams": "listeners",
}


def content_key(faults: tuple[Fault, ...]) -> str:
    """A short stable key of a set of content faults ("" for none), for cache directory names."""
    if not faults:
        return ""
    text = " ".join(sorted(f.spec() for f in faults))
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def _positions(first: int, count: int, lines: int) -> range:
    """Indexes, relative to a batch starting at line `first`, of the faulty lines in that batch."""
    start = max(0, -(-(first - 1) // _STRIDE))  # the first k with 1 + k * stride >= first
    stop = min(lines, -(-(first + count - 1) // _STRIDE))
    return (
        range(1 + start * _STRIDE - first, 1 + stop * _STRIDE - first, _STRIDE) if stop > start else range(0)
    )


def _wrong_type(value: Any) -> Any:
    if isinstance(value, bool):
        return "yes"
    if isinstance(value, int | float):
        return "n/a"  # a number that is not one
    if isinstance(value, str):
        return 12345
    return "?"


def _edit(line: str, fn: Any) -> str:
    record = json.loads(line)
    fn(record)
    return json.dumps(record, separators=(",", ":")) + "\n"


def _apply(fault: Fault, report: str, lines: list[str], first: int) -> list[str]:
    if fault.kind == "drift_extra":
        extra = json.dumps({fault.field or DEFAULT_EXTRA_FIELD: "drift"}, separators=(",", ":"))
        return [f"{line[:-2]},{extra[1:-1]}}}\n" for line in lines]
    if fault.kind == "drift_missing":
        name = fault.field or _MISSING[report]
        return [_edit(line, lambda r: r.pop(name, None)) for line in lines]
    out = list(lines)
    for i in _positions(first, len(lines), fault.lines):
        if fault.kind == "malformed":
            out[i] = out[i][: len(out[i]) // 2] + "\n"  # cut mid-record: never valid JSON
        else:  # drift_type
            name = fault.field or _WRONG_TYPE[report]
            out[i] = _edit(out[i], lambda r, n=name: r.__setitem__(n, _wrong_type(r.get(n))))
    return out


def mutator(faults: tuple[Fault, ...]) -> LineMutator | None:
    """The line mutator applying `faults` (each to the reports it names, or all), or None."""
    if not faults:
        return None
    ordered = sorted(faults, key=lambda f: f.kind == "malformed")  # drift first, then cut lines

    def mutate(report: str, lines: list[str], first: int) -> list[str]:
        for fault in ordered:
            if fault.report is None or fault.report == report:
                lines = _apply(fault, report, lines, first)
        return lines

    return mutate
