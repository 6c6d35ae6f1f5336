"""Per-file field checks: a renamed field must fail or warn loudly, never land as a column of nulls.

A required field missing from every line of a file is a rename, not bad lines: the load fails,
naming the field and the unknown fields the file carried instead. An optional field null in all
rows of a file while an unknown field fills most rows is probably a rename too (`source` null
everywhere turns `fct_source_mix` into "other"): that is a warning in the log and the metadata.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import PurePosixPath

from pipeline.ingest.landing.errors import LandingError
from pipeline.ingest.landing.names import FIELD_MAP_ENV

_HINT = f"map them in {FIELD_MAP_ENV} or the registry aliases (pipeline/reports.py)"
_NESTED_HINT = "the aggregated reader knows the wire contract's three shapes: a renamed level needs a new one"
_SHOWN = 8  # unknown field names listed in a message


class MissingFieldError(LandingError):
    """A required field is absent from every line of a file (most likely renamed on the wire)."""


@dataclass
class FieldTally:
    """What one file's lines held: for the checks above. Filled by the parser, block by block."""

    records: int = 0  # lines that were JSON objects (the fast path: every line of a trusted block)
    missing: Counter[str] = field(default_factory=Counter)  # required field -> lines without it
    unknown: Counter[str] = field(default_factory=Counter)  # undeclared field -> lines with it
    rows: int = 0  # accepted rows
    nulls: Counter[str] = field(default_factory=Counter)  # optional field -> accepted rows null in it


def _listed(names: list[str]) -> str:
    more = f" and {len(names) - _SHOWN} more" if len(names) > _SHOWN else ""
    return ", ".join(names[:_SHOWN]) + more if names else "none"


def check_file(table: str, source: str, tally: FieldTally) -> dict[str, str]:
    """Raise MissingFieldError for a required field no line has; warnings for likely renames by field."""
    name = PurePosixPath(source).name
    unknown = [n for n, _ in tally.unknown.most_common()]
    absent = sorted(f for f, n in tally.missing.items() if tally.records and n >= tally.records)
    if absent:
        hint = _NESTED_HINT if table.startswith("aggregated_") else _HINT
        fields = ", ".join(repr(f) for f in absent)
        noun = "field" if len(absent) == 1 else "fields"
        verb = "is" if len(absent) == 1 else "are"
        raise MissingFieldError(
            f"{table}: required {noun} {fields} {verb} missing from all {tally.records:,} lines of {name}; "
            f"unknown fields seen: {_listed(unknown)} — {hint}"
        )
    common = [n for n, count in tally.unknown.most_common() if count * 2 > tally.records]
    if not tally.rows or not common:
        return {}
    return {
        f: f"{table}: optional field {f!r} is null in all {tally.rows:,} rows of {name} while unknown "
        f"field(s) {_listed(common)} fill most lines: a renamed field? {_HINT}"
        for f, nulls in tally.nulls.items()
        if nulls >= tally.rows
    }


def summarize_warnings(found: dict[str, list[str]]) -> tuple[str, ...]:
    """One warning per field: its first file's message, and how many other files said the same."""
    return tuple(
        messages[0] + (f" (and {len(messages) - 1} more file(s))" if len(messages) > 1 else "")
        for messages in found.values()
    )
