"""`spotify-bulk risk`: tracks flagged for artificial streaming, why, and what they may cost."""

from __future__ import annotations

import argparse
import json
from typing import Any

from pipeline.cli.args import add_window_args, window_from_args, window_given
from pipeline.cli.commands import COMMANDS
from pipeline.config import Settings, parse_licensors
from pipeline.dates import resolve_window
from pipeline.layout import Layout
from pipeline.risk.report import FlaggedTrack, flagged_tracks
from pipeline.warehouse.options import WarehouseOptions

DEFAULT_DAYS = 7
EXIT_FLAGGED = 3  # `--fail-on-flagged` and something is flagged: distinct from usage (2) and errors (1)


def add_parser(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "risk",
        help=COMMANDS["risk"],
        description="Tracks the warehouse flagged for artificial streaming (fct_track_risk), with the "
        "signals that fired, the estimated artificial share of their streams and the fee exposure "
        f"(EUR per flagged track per month, SPOTIFY_BULK_RISK_FEE_EUR). Default: the last {DEFAULT_DAYS} "
        "days up to yesterday. docs/risk.md explains how to read a flag.",
    )
    parser.add_argument("--licensor", action="append", help="licensor (repeatable; default every one)")
    add_window_args(parser)
    parser.add_argument("--json", action="store_true", help="print the flagged tracks as JSON")
    parser.add_argument(
        "--fail-on-flagged",
        action="store_true",
        help=f"exit {EXIT_FLAGGED} when any track is flagged (for cron and alerting)",
    )


def format_flagged(tracks: list[FlaggedTrack], window: object) -> str:
    if not tracks:
        return f"No track flagged for artificial streaming in {window}."
    total = sum(t.fee_exposure_eur for t in tracks)
    lines = [
        f"{len(tracks)} track(s) flagged for artificial streaming in {window}; fee exposure EUR {total:,.2f}"
    ]
    for t in tracks:
        name = f" {t.track_name!r}" if t.track_name else ""
        lines.append(
            f"  {t.licensor} {t.track_id}{name}: score {t.max_risk_score}, "
            f"~{t.max_artificial_share:.0%} artificial, {t.flagged_days} day(s) "
            f"{t.first_flagged:%Y-%m-%d}..{t.last_flagged:%Y-%m-%d}, EUR {t.fee_exposure_eur:,.2f}"
        )
        lines.append(f"      {t.reasons}")
    return "\n".join(lines)


def run(args: argparse.Namespace, settings: Settings) -> int:
    window = (
        window_from_args(args) if window_given(args) else resolve_window(start=str(DEFAULT_DAYS), end="1")
    )
    licensors = parse_licensors(",".join(args.licensor)) if args.licensor else ()
    tracks = flagged_tracks(
        Layout(settings.lake_dir), window, licensors, WarehouseOptions.from_settings(settings)
    )
    if args.json:
        payload = {"window": [window.start.isoformat(), window.end.isoformat()],
                   "flagged": [t.to_dict() for t in tracks],
                   "fee_exposure_eur": round(sum(t.fee_exposure_eur for t in tracks), 2)}  # fmt: skip
        print(json.dumps(payload, indent=1))
    else:
        print(format_flagged(tracks, window))
    return EXIT_FLAGGED if args.fail_on_flagged and tracks else 0
