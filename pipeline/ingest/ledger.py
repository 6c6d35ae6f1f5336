"""The load ledger: the last outcome of every report-day (loaded, not available yet, failed and why).

The lake shows what landed, not what was tried: a day the API has not published yet and a day that
failed look the same there (no partition, or the previous version). `spotify-bulk status` and the
dashboard's data health read this ledger to tell them apart. One small JSON file per report-day,
replaced atomically on each load; retention removes it with the day.
"""

from __future__ import annotations

import json
import logging
from dataclasses import asdict, dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Literal

from pipeline.layout import Layout
from pipeline.storage.atomic import atomic_write_bytes

LEDGER_DIR = "ledger"
OUTCOME_FILE = "outcome.json"
log = logging.getLogger(__name__)
State = Literal["loaded", "not_available", "failed"]


@dataclass(frozen=True)
class LoadRecord:
    """What the last load of one report-day did."""

    report: str
    licensor: str
    day: date
    state: State
    at: datetime
    cause: str = ""  # why it failed, or why the API has nothing yet
    rows: int = 0  # rows of the report's first table (loaded)
    lines: int = 0
    rejected: int = 0

    def to_json(self) -> bytes:
        document = {**asdict(self), "day": self.day.isoformat(), "at": self.at.isoformat()}
        return (json.dumps(document, indent=1) + "\n").encode("utf-8")

    @classmethod
    def from_json(cls, data: bytes) -> LoadRecord:
        doc = json.loads(data)
        return cls(
            report=doc["report"],
            licensor=doc["licensor"],
            day=date.fromisoformat(doc["day"]),
            state=doc["state"],
            at=datetime.fromisoformat(doc["at"]),
            cause=str(doc.get("cause", "")),
            rows=int(doc.get("rows", 0)),
            lines=int(doc.get("lines", 0)),
            rejected=int(doc.get("rejected", 0)),
        )


def record_path(layout: Layout, report: str, licensor: str, day: date) -> Path:
    return layout.ledger_partition(report, licensor, day) / OUTCOME_FILE


def write_record(layout: Layout, record: LoadRecord) -> None:
    """Replace the report-day's record. Never fails a load (the ledger is advisory), but a record
    that cannot be written is reported: `status` would otherwise show the day's previous outcome."""
    if not layout.data_dir.is_dir():
        return  # refused before touching the data directory (settings): nothing to record there
    try:
        path = record_path(layout, record.report, record.licensor, record.day)
        atomic_write_bytes(path, record.to_json(), staging_root=layout.staging_root)
    except (OSError, ValueError) as exc:
        log.warning(
            "load ledger: could not record %s %s %s as %s (%s); `spotify-bulk status` shows its "
            "previous outcome until the next load records it",
            record.report,
            record.licensor,
            record.day,
            record.state,
            exc,
        )


def read_records(layout: Layout) -> dict[tuple[str, str, date], LoadRecord]:
    """Every recorded outcome, keyed by (report, licensor, day); an unreadable record is reported
    (named, with the cause and the fix) and left out."""
    found = {}
    for path in (layout.data_dir / LEDGER_DIR).glob(f"*/licensor=*/date=*/{OUTCOME_FILE}"):
        try:
            record = LoadRecord.from_json(path.read_bytes())
        except (OSError, ValueError, KeyError) as exc:
            log.warning(
                "load ledger: skipping unreadable %s (%s: %s); re-load that day to record it again",
                path,
                type(exc).__name__,
                exc,
            )
            continue
        found[(record.report, record.licensor, record.day)] = record
    return found


def now() -> datetime:
    return datetime.now(UTC)
