"""What the lake holds: a licensor x date x report grid, freshness, and the days the look-back re-pulls.

Read from the data directory only (lake partitions, the load ledger and the reject tallies), so it
answers in a fraction of a second on months of days and needs neither the API nor Dagster. The
`spotify-bulk status` command and the dashboard's data health section both show it.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from functools import cached_property
from typing import Literal

from pipeline.config import tables_for
from pipeline.dates import DateWindow
from pipeline.ingest.ledger import LoadRecord, read_records
from pipeline.ingest.tally import read_tallies
from pipeline.layout import Layout
from pipeline.reports import REPORTS, ReportSpec

PART_FILE = "part-0.parquet"
CellState = Literal["loaded", "not_available", "failed", "not_loaded"]


@dataclass(frozen=True)
class Cell:
    """One report for one licensor-day."""

    licensor: str
    day: date
    report: str
    state: CellState
    rows: int | None = None  # rows of the report's first table in the lake (also when a reload failed)
    rejected: int = 0  # lines rejected at landing of the version in the lake
    cause: str = ""  # why the last load failed, or why the API has nothing yet
    loaded_at: datetime | None = None


@dataclass(frozen=True)
class LicensorHealth:
    """Freshness of one licensor: its newest complete day, last successful load, gaps and rejects."""

    licensor: str
    newest_day: date | None  # the newest day with every report loaded
    last_load: datetime | None  # the last successful load of any report-day (whole data directory)
    days_missing: tuple[date, ...]  # days of the window with some report not loaded
    days_failed: tuple[date, ...]
    rejected: int  # lines rejected at landing over the window


@dataclass(frozen=True)
class LakeStatus:
    window: DateWindow
    reports: tuple[str, ...]
    cells: tuple[Cell, ...]
    licensors: tuple[LicensorHealth, ...]
    repull: DateWindow | None  # the days the next daily load re-pulls (yesterday and the look-back)

    @cached_property
    def _index(self) -> dict[tuple[str, date, str], Cell]:
        return {(c.licensor, c.day, c.report): c for c in self.cells}

    def cell(self, licensor: str, day: date, report: str) -> Cell:
        return self._index[(licensor, day, report)]

    def to_dict(self) -> dict[str, object]:
        """Plain JSON-ready values (for `--json` and the dashboard)."""
        return {
            "window": {"start": self.window.start.isoformat(), "end": self.window.end.isoformat()},
            "reports": list(self.reports),
            "repull": None
            if self.repull is None
            else {"start": self.repull.start.isoformat(), "end": self.repull.end.isoformat()},
            "licensors": [
                {
                    "licensor": h.licensor,
                    "newest_day": h.newest_day.isoformat() if h.newest_day else None,
                    "last_load": h.last_load.isoformat() if h.last_load else None,
                    "days_missing": [d.isoformat() for d in h.days_missing],
                    "days_failed": [d.isoformat() for d in h.days_failed],
                    "rejected": h.rejected,
                }
                for h in self.licensors
            ],
            "cells": [
                {
                    "licensor": c.licensor,
                    "date": c.day.isoformat(),
                    "report": c.report,
                    "state": c.state,
                    "rows": c.rows,
                    "rejected": c.rejected,
                    "cause": c.cause,
                    "loaded_at": c.loaded_at.isoformat() if c.loaded_at else None,
                }
                for c in self.cells
            ],
        }


def repull_window(today: date, lookback_days: int, first_day: date) -> DateWindow | None:
    """Yesterday and the `lookback_days` before it (not before `first_day`): what a daily tick loads."""
    end = today - timedelta(days=1)
    start = max(first_day, end - timedelta(days=lookback_days))
    return DateWindow(start, end) if start <= end else None


def _lake_days(layout: Layout, report: ReportSpec) -> dict[tuple[str, date], tuple[int, datetime]]:
    """(licensor, day) -> (rows, committed) of the report's first table in the lake."""
    lake = tables_for(layout.data_dir)
    table = report.tables[0].name
    if table not in lake.table_names():
        return {}
    return {part: (rows, stamp) for part, (rows, _, stamp) in lake.partition_stats(table).items()}


def _cell(
    licensor: str,
    day: date,
    report: str,
    lake: tuple[int, datetime] | None,
    record: LoadRecord | None,
    rejected: int,
) -> Cell:
    if record is not None and record.state == "failed":
        rows = lake[0] if lake else None
        return Cell(licensor, day, report, "failed", rows, rejected if lake else 0, record.cause)
    if lake is not None:
        at = record.at if record is not None and record.state == "loaded" else lake[1]
        return Cell(licensor, day, report, "loaded", lake[0], rejected, "", at)
    if record is not None and record.state == "not_available":
        return Cell(licensor, day, report, "not_available", cause=record.cause)
    return Cell(licensor, day, report, "not_loaded")


def lake_status(
    layout: Layout,
    licensors: Sequence[str],
    window: DateWindow,
    *,
    today: date,
    lookback_days: int,
    first_day: date,
    reports: Sequence[ReportSpec] = REPORTS,
) -> LakeStatus:
    """The grid over `window` for `licensors` (every licensor the lake or ledger knows if empty)."""
    lake = {r.name: _lake_days(layout, r) for r in reports}
    records = read_records(layout)
    tallies = {
        (t.report, t.licensor, t.day): t.rejected for t in read_tallies(layout, window.start, window.end)
    }
    if not licensors:
        known = {lic for days in lake.values() for lic, _day in days} | {k[1] for k in records}
        licensors = sorted(known)
    cells = [
        _cell(
            licensor,
            day,
            r.name,
            lake[r.name].get((licensor, day)),
            records.get((r.name, licensor, day)),
            tallies.get((r.name, licensor, day), 0),
        )
        for licensor in licensors
        for day in window
        for r in reports
    ]
    health = tuple(_health(licensor, cells, records.values()) for licensor in licensors)
    return LakeStatus(
        window,
        tuple(r.name for r in reports),
        tuple(cells),
        health,
        repull_window(today, lookback_days, first_day),
    )


def _health(licensor: str, cells: Sequence[Cell], records: Iterable[LoadRecord]) -> LicensorHealth:
    mine = [c for c in cells if c.licensor == licensor]
    days = sorted({c.day for c in mine})
    complete = [d for d in days if all(c.state == "loaded" for c in mine if c.day == d)]
    failed = sorted({c.day for c in mine if c.state == "failed"})
    loads = [r.at for r in records if r.licensor == licensor and r.state == "loaded"]
    loads += [c.loaded_at for c in mine if c.loaded_at is not None]
    return LicensorHealth(
        licensor,
        max(complete) if complete else None,
        max(loads) if loads else None,
        tuple(d for d in days if d not in complete),
        tuple(failed),
        sum(c.rejected for c in mine),
    )
