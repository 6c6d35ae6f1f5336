"""`spotify-bulk status`: what the lake holds per licensor, date and report, and what comes next."""

from __future__ import annotations

import argparse
import json
from typing import Any

from pipeline.cli.args import add_window_args, window_from_args, window_given
from pipeline.cli.commands import COMMANDS
from pipeline.config import Settings, parse_licensors
from pipeline.dates import resolve_window, utc_today
from pipeline.ingest.status import Cell, LakeStatus, lake_status
from pipeline.layout import Layout

DEFAULT_DAYS = 14
_SHORT = {"not_available": "not yet", "failed": "FAILED", "not_loaded": "-"}


def add_parser(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "status",
        help=COMMANDS["status"],
        description="A licensor x date x report grid of the lake (row counts, days the API has not "
        "published yet, failed loads with their cause, lines rejected at landing), each licensor's "
        f"last successful load, and the days the daily look-back re-pulls. Default: the last "
        f"{DEFAULT_DAYS} days up to yesterday.",
    )
    parser.add_argument("--licensor", action="append", help="licensor (repeatable; default every one)")
    add_window_args(parser)
    parser.add_argument("--json", action="store_true", help="print the grid as JSON")


def cell_text(cell: Cell) -> str:
    """A grid cell: row count (and rejects), or the state."""
    if cell.state == "loaded":
        return f"{cell.rows:,}" + (f" ({cell.rejected:,} rej)" if cell.rejected else "")
    return _SHORT[cell.state]


def format_status(status: LakeStatus) -> str:
    """The grid per licensor, then failures, rejects, freshness and the look-back."""
    lines = [f"Lake status {status.window}"]
    widths = [max(len(r), 16) for r in status.reports]
    for health in status.licensors:
        lines += ["", f"licensor {health.licensor}"]
        lines.append(
            "  "
            + "date".ljust(12)
            + "".join(r.ljust(w + 2) for r, w in zip(status.reports, widths, strict=True))
        )
        for day in status.window:
            row = [
                cell_text(status.cell(health.licensor, day, r)).ljust(w + 2)
                for r, w in zip(status.reports, widths, strict=True)
            ]
            lines.append(f"  {day:%Y-%m-%d}  " + "".join(row).rstrip())
    problems = [c for c in status.cells if c.state == "failed"]
    if problems:
        lines += ["", "Failed loads:"]
        lines += [f"  {c.day:%Y-%m-%d} {c.licensor} {c.report}: {c.cause}" for c in problems]
    rejected = [c for c in status.cells if c.rejected]
    if rejected:
        total = sum(c.rejected for c in rejected)
        lines += ["", f"{total:,} lines rejected at landing on these days:"]
        lines += [f"  {c.day:%Y-%m-%d} {c.licensor} {c.report}: {c.rejected:,}" for c in rejected]
    lines.append("")
    for h in status.licensors:
        newest = f"{h.newest_day:%Y-%m-%d}" if h.newest_day else "none"
        last = f"{h.last_load:%Y-%m-%d %H:%M} UTC" if h.last_load else "never"
        lines.append(
            f"{h.licensor}: newest complete day {newest}, last successful load {last}, "
            f"{len(h.days_missing)} day(s) incomplete, {len(h.days_failed)} with failures, "
            f"{h.rejected:,} lines rejected"
        )
    if status.repull is not None:
        lines.append(f"The next daily load re-pulls {status.repull} (yesterday and the look-back window).")
    return "\n".join(lines)


def run(args: argparse.Namespace, settings: Settings) -> int:
    window = (
        window_from_args(args) if window_given(args) else resolve_window(start=str(DEFAULT_DAYS), end="1")
    )
    licensors = parse_licensors(",".join(args.licensor)) if args.licensor else settings.licensors
    status = lake_status(
        Layout(settings.lake_dir),
        licensors,
        window,
        today=utc_today(),
        lookback_days=settings.lookback_days,
        first_day=settings.start_date,
    )
    print(json.dumps(status.to_dict(), indent=1) if args.json else format_status(status))
    return 0
