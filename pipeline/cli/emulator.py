"""`spotify-bulk emulator`: run the Spotify emulator standalone on loopback."""

from __future__ import annotations

import argparse
from typing import Any

from pipeline.cli.commands import COMMANDS
from pipeline.config import Settings
from pipeline.errors import UsageError


def add_parser(subparsers: Any) -> None:
    from pipeline.emulator.fraud import PATTERNS

    emulator = subparsers.add_parser("emulator", help=COMMANDS["emulator"])
    emulator.add_argument("--port", type=int, default=8765)
    emulator.add_argument("--host", default="127.0.0.1")
    emulator.add_argument("--rows-per-day", type=int, default=3000)
    emulator.add_argument("--seed", type=int, default=42)
    emulator.add_argument("--lag-days", type=int, default=1)
    emulator.add_argument(
        "--fault", action="append", default=[], help="inject a fault, e.g. rate_limit:count=3,retry_after=1"
    )
    emulator.add_argument(
        "--fraud",
        default="",
        help="inject labelled artificial streaming: patterns joined by '+', optionally '@FIRST-DAY', e.g. "
        "bot_farm+lockstep_ring+super_fan@2026-06-01 (all: " + "+".join(PATTERNS) + "; docs/risk.md)",
    )


def run(args: argparse.Namespace, settings: Settings) -> int:
    from pipeline.emulator import EmulatorConfig, FaultPlan, serve_forever
    from pipeline.emulator.fraud import FraudPlan

    del settings  # the emulator is configured by its arguments only
    try:
        faults = FaultPlan.parse(args.fault)
        fraud = FraudPlan.from_token(args.fraud.strip())
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    config = EmulatorConfig(
        seed=args.seed, rows_per_day=args.rows_per_day, lag_days=args.lag_days, faults=faults, fraud=fraud
    )
    serve_forever(config, args.host, args.port)
    return 0
