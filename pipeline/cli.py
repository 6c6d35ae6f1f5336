"""`spotify-bulk`: the command line for loads, the demo and the emulator.

Each command parses and validates its arguments first, so a typo fails in a second with a clear
message instead of half-way through a backfill. Dagster is imported only by commands that run it.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from pipeline.cli_args import add_window_args, window_from_args
from pipeline.errors import UsageError
from pipeline.reports import REPORTS, ReportSpec, report_by_name
from pipeline.retention import add_retention_parser, cmd_retention
from pipeline.settings import parse_licensors
from pipeline.warehouse.cli import (
    add_build_parser,
    add_query_parser,
    add_sql_parser,
    cmd_build,
    cmd_query,
    cmd_sql,
)

EXIT_OK, EXIT_USAGE = 0, 2
DEFAULT_WORKERS = min(2, os.cpu_count() or 1)


def _load_dotenv() -> None:
    """Load `.env` from the working directory; variables already set win."""
    from dotenv import load_dotenv

    load_dotenv(Path.cwd() / ".env", override=False)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="spotify-bulk", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    demo = sub.add_parser("demo", help="load the last 7 days from the embedded emulator, end to end")
    demo.add_argument("--days", type=int, default=7, help="days to load (default 7)")
    demo.add_argument("--rows-per-day", type=int, default=3000, help="stream rows per licensor-day")

    load = sub.add_parser("load", help="load Bulk API reports for licensors and a date window")
    load.add_argument("--licensor", action="append", required=True, help="licensor (repeatable)")
    load.add_argument(
        "--report",
        action="append",
        help=f"report (repeatable; default all): {', '.join(r.name for r in REPORTS)}",
    )
    add_window_args(load)
    load.add_argument("--verbose", action="store_true", help="show Dagster's step logs")
    load.add_argument(
        "--workers",
        type=int,
        default=DEFAULT_WORKERS,
        help=f"partition runs in parallel (default {DEFAULT_WORKERS})",
    )

    enrich = sub.add_parser("enrich", help="enrich the catalog from the Web API (new and stale ids only)")
    enrich.add_argument(
        "--ttl-days", type=float, default=7.0, help="refetch ids older than this many days (default 7)"
    )
    enrich.add_argument("--max-ids", type=int, default=0, help="most ids asked per kind (default: no cap)")
    enrich.add_argument("--verbose", action="store_true", help="show Dagster's step logs")

    add_build_parser(sub)
    add_query_parser(sub)
    add_sql_parser(sub)
    add_retention_parser(sub)

    dashboard = sub.add_parser("dashboard", help="serve the dashboard on localhost (reads the warehouse)")
    dashboard.add_argument("--port", type=int, default=8501, help="port on 127.0.0.1 (default 8501)")

    emulator = sub.add_parser("emulator", help="run the Spotify emulator standalone")
    emulator.add_argument("--port", type=int, default=8765)
    emulator.add_argument("--host", default="127.0.0.1")
    emulator.add_argument("--rows-per-day", type=int, default=3000)
    emulator.add_argument("--seed", type=int, default=42)
    emulator.add_argument("--lag-days", type=int, default=1)
    emulator.add_argument(
        "--fault", action="append", default=[], help="inject a fault, e.g. rate_limit:count=3,retry_after=1"
    )
    return parser


def _reports(names: Sequence[str] | None) -> list[ReportSpec]:
    if not names:
        return list(REPORTS)
    try:
        return list(dict.fromkeys(report_by_name(n) for n in names))
    except ValueError as exc:
        raise UsageError(str(exc)) from None


def _licensors(names: Sequence[str]) -> tuple[str, ...]:
    try:
        return parse_licensors(",".join(names))
    except ValueError as exc:
        raise UsageError(str(exc)) from None


def cmd_load(args: argparse.Namespace) -> int:
    from pipeline.loads import run_load

    licensors = _licensors(args.licensor)
    return run_load(
        licensors=licensors,
        window=window_from_args(args),
        reports=_reports(args.report),
        log_level="INFO" if args.verbose else "WARNING",
        workers=max(1, args.workers),
    )


def cmd_demo(args: argparse.Namespace) -> int:
    from pipeline.demo import run_demo

    if args.days < 1 or args.rows_per_day < 10:
        raise UsageError("--days must be at least 1 and --rows-per-day at least 10")
    return run_demo(days=args.days, rows_per_day=args.rows_per_day)


def cmd_enrich(args: argparse.Namespace) -> int:
    from pipeline.enrich import enrich_command

    if args.ttl_days < 0 or args.max_ids < 0:
        raise UsageError("--ttl-days and --max-ids must not be negative")
    return enrich_command(
        ttl_days=args.ttl_days, max_ids=args.max_ids, log_level="INFO" if args.verbose else "WARNING"
    )


def cmd_dashboard(args: argparse.Namespace) -> int:
    from pipeline.dashboard.server import serve
    from pipeline.settings import Settings

    serve(args.port, Settings.from_env().data_dir.resolve())
    return EXIT_OK


def cmd_emulator(args: argparse.Namespace) -> int:
    from pipeline.emulator import EmulatorConfig, FaultPlan, serve_forever

    try:
        faults = FaultPlan.parse(args.fault)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    config = EmulatorConfig(
        seed=args.seed, rows_per_day=args.rows_per_day, lag_days=args.lag_days, faults=faults
    )
    serve_forever(config, args.host, args.port)
    return EXIT_OK


COMMANDS = {
    "load": cmd_load,
    "demo": cmd_demo,
    "enrich": cmd_enrich,
    "build": cmd_build,
    "query": cmd_query,
    "sql": cmd_sql,
    "retention": cmd_retention,
    "emulator": cmd_emulator,
    "dashboard": cmd_dashboard,
}


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    _load_dotenv()
    os.environ.setdefault("DAGSTER_TELEMETRY_DISABLED", "1")
    try:
        return COMMANDS[args.command](args)
    except UsageError as exc:
        print(f"spotify-bulk {args.command}: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
