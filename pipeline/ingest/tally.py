"""The reject tally of one report-day: how many lines were refused, why, and for which track.

The rejects file quotes every refused line (personal data included); the tally is the small,
personal-data-free summary the warehouse reconciles against. A cut stream line usually still
names its track and country (files are per country), so the tally attributes it: the warehouse can
then tell "the aggregated count is one higher because that stream line was rejected" from a real
disagreement. Lines that name nothing are counted as unattributed.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

from pipeline.layout import Layout
from pipeline.storage.atomic import atomic_write_bytes

TALLY_FILE = "tally.json"
# A track id as a field, a URI or a Web API link (the aggregated report nests it in `trackv2`).
_TRACK = re.compile(
    r'"track_id"\s*:\s*"([A-Za-z0-9]{22})"|spotify:track:([A-Za-z0-9]{22})|/tracks/([A-Za-z0-9]{22})'
)
_COUNTRY = re.compile(r'"country"\s*:\s*"([A-Z]{2})"')
_FILE_COUNTRY = re.compile(r"_([A-Z]{2})\.json(?:\.gz)?$")
_REASON_CHARS = 60


@dataclass(frozen=True)
class RejectTally:
    """Lines read and refused for one report-day; `attributed` maps (track_id, country) to lines."""

    report: str
    licensor: str
    day: date
    lines: int
    rejected: int
    reasons: dict[str, int] = field(default_factory=dict)
    attributed: dict[tuple[str, str | None], int] = field(default_factory=dict)

    @property
    def unattributed(self) -> int:
        return self.rejected - sum(self.attributed.values())

    def to_json(self) -> bytes:
        document = {
            "report": self.report,
            "licensor": self.licensor,
            "date": self.day.isoformat(),
            "lines": self.lines,
            "rejected": self.rejected,
            "reasons": self.reasons,
            "attributed": [
                {"track_id": track, "country": country, "lines": n}
                for (track, country), n in sorted(self.attributed.items(), key=str)
            ],
        }
        return (json.dumps(document, indent=1) + "\n").encode("utf-8")

    @classmethod
    def from_json(cls, data: bytes) -> RejectTally:
        doc = json.loads(data)
        attributed = {(a["track_id"], a.get("country")): int(a["lines"]) for a in doc.get("attributed", ())}
        return cls(
            doc["report"],
            doc["licensor"],
            date.fromisoformat(doc["date"]),
            int(doc["lines"]),
            int(doc["rejected"]),
            {str(k): int(v) for k, v in doc.get("reasons", {}).items()},
            attributed,
        )


def reason_kind(reason: str) -> str:
    """The reason without the values it quotes ("field 'stream_length'", "invalid JSON"), to count by."""
    head = reason.split(":", 1)[0].strip()
    return head[:_REASON_CHARS] or "unknown"


def attribute(source_file: str, raw: str) -> tuple[str, str | None] | None:
    """(track_id, country) a refused line still names, or None when it names no track."""
    track = _TRACK.search(raw)
    if track is None:
        return None
    country = _COUNTRY.search(raw) or _FILE_COUNTRY.search(source_file)
    return next(g for g in track.groups() if g), country.group(1) if country else None


def tally_rejects(report: str, licensor: str, day: date, lines: int, spool: Path | None) -> RejectTally:
    """Summarize a rejects spool (JSON lines of `Reject`; None or missing: nothing rejected)."""
    reasons: Counter[str] = Counter()
    attributed: Counter[tuple[str, str | None]] = Counter()
    rejected = 0
    for record in _records(spool):
        rejected += 1
        reasons[reason_kind(str(record.get("reason", "")))] += 1
        key = attribute(str(record.get("source_file", "")), str(record.get("raw", "")))
        if key is not None:
            attributed[key] += 1
    return RejectTally(report, licensor, day, lines, rejected, dict(reasons), dict(attributed))


def _records(spool: Path | None) -> Iterator[dict]:
    if spool is None or not spool.exists():
        return
    with open(spool, encoding="utf-8", errors="replace") as fh:
        for line in fh:
            if line.strip():
                yield json.loads(line)


def write_tally(directory: Path, tally: RejectTally, *, staging_root: Path | None = None) -> Path:
    """Write the tally next to the report-day's rejects file (atomically, through `staging_root`)."""
    path = directory / TALLY_FILE
    atomic_write_bytes(path, tally.to_json(), staging_root=staging_root)
    return path


def read_tallies(
    layout: Layout, start: date, end: date, *, reports: Iterable[str] | None = None
) -> list[RejectTally]:
    """Every recorded tally of the window (reports as named, default all with a rejects directory)."""
    root = layout.data_dir / "rejects"
    names = list(reports) if reports is not None else sorted(p.name for p in root.glob("*") if p.is_dir())
    found = []
    for name in names:
        for path in (root / name).glob(f"licensor=*/date=*/{TALLY_FILE}"):
            day = _partition_day(path.parent.name)
            if day is not None and start <= day <= end:
                found.append(RejectTally.from_json(path.read_bytes()))
    return sorted(found, key=lambda t: (t.day, t.licensor, t.report))


def _partition_day(name: str) -> date | None:
    try:
        return date.fromisoformat(name.removeprefix("date="))
    except ValueError:
        return None
