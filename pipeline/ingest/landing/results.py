"""What a landing wrote, for Dagster metadata, checks and the CLI summary."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import pyarrow as pa

from pipeline.ingest.landing.gate import GateOutcome
from pipeline.reports import TableSpec


@dataclass(frozen=True)
class TableResult:
    """One committed lake partition: its data file, size, schema, null counts and gate checks."""

    table: str
    rows: int
    path: Path | None  # the local data file (None: no rows, or the file is on object storage)
    bytes: int
    schema: pa.Schema
    null_counts: dict[str, int] = field(default_factory=dict)
    checks: tuple[GateOutcome, ...] = ()  # the blocking checks it passed, run on the staged file
    location: str = ""  # the data file's URI in the table ("" for a day without rows)


@dataclass(frozen=True)
class LandingResult:
    """One report landed for a licensor-day: tables written, lines read and rejected, drift seen."""

    report: str
    licensor: str
    day: date
    tables: tuple[TableResult, ...]
    lines_total: int  # non-blank lines (records) read from all files
    rejected: int  # of those, lines written to the rejects file instead of the lake
    rejects_path: Path | None  # None when nothing was rejected (an old rejects file is removed)
    unknown_fields: dict[str, int] = field(default_factory=dict)  # undeclared field -> rows having it
    warnings: tuple[str, ...] = ()  # likely renamed fields (`fieldcheck.py`): optional fields all null
    invalid_track_ids: int = 0  # lines rejected because a track id was in no known form

    @property
    def reject_share(self) -> float:
        return self.rejected / self.lines_total if self.lines_total else 0.0


def table_column_schema(spec: TableSpec) -> list[tuple[str, str]]:
    """(column, Arrow type) pairs of the Parquet file, for `dagster/column_schema` metadata."""
    return [(f.name, str(f.type)) for f in spec.schema]
