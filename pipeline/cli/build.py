"""`spotify-bulk build`: recompute the marts for a window, check them, publish the warehouse."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from pipeline.cli.args import add_window_args, dagster_log_level, window_from_args, window_given
from pipeline.cli.commands import COMMANDS
from pipeline.config import Settings
from pipeline.dates import DateWindow
from pipeline.errors import UsageError
from pipeline.warehouse.build import BuildResult


def add_parser(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "build",
        help=COMMANDS["build"],
        description="Recompute the marts for a date window (default: every date in the lake), run the "
        "blocking checks and publish warehouse.duckdb atomically, as one run of the Dagster "
        "warehouse_job (in the UI's run history).",
    )
    add_window_args(parser)
    parser.add_argument("--full-refresh", action="store_true", help="rebuild every mart over every date")


def _window(args: argparse.Namespace) -> DateWindow | None:
    given = window_given(args)
    if args.full_refresh and given:
        raise UsageError("--full-refresh rebuilds every date; drop --date/--start/--end/--period")
    return window_from_args(args) if given else None


def print_build(result: BuildResult) -> None:
    span = str(result.window) if result.window else "nothing (the lake is empty)"
    print(f"Built {len(result.models)} marts over {span} in {result.seconds:.1f} s")
    for build in result.models:
        print(
            f"  {build.model:<26} {build.rows:>12,} rows  {build.partitions_written:>5} written  "
            f"{build.partitions_removed:>4} removed  {build.seconds:6.2f} s"
        )
    for check in (c for c in result.checks if c.warning):
        print(
            f"check WARNING: {check.model}.{check.name}: {check.explained:,} differences explained by rejects"
        )
        print(f"  {check.note}")
    if result.rejects:
        print(result.rejects)
    for check in result.failed_checks:
        print(f"check FAILED: {check.model}.{check.name}: {check.failures:,} offending rows", file=sys.stderr)
        print(f"  {check.description}", file=sys.stderr)
        for row in check.sample:
            print(f"  e.g. {row}", file=sys.stderr)
        if check.note:
            print(f"  {check.note}", file=sys.stderr)
    if result.catalog:
        print(f"Published {result.catalog}")
        pins = ", ".join(f"{table}@{snapshot}" for table, snapshot in sorted(result.snapshot_ids.items()))
        print(f"  snapshots read and written (time travel; also in _warehouse_build): {pins}")
    else:
        print("Not published: a blocking check failed; readers keep the previous warehouse.", file=sys.stderr)


def run(args: argparse.Namespace, settings: Settings) -> int:
    """One run of the warehouse job on the shared instance (in the UI's run history), printed."""
    window = _window(args)
    from pipeline.definitions import build_definitions
    from pipeline.orchestration.instance import dagster_dev_command
    from pipeline.orchestration.warehouse_runs import new_run_id, run_build

    run_id = new_run_id()
    result = run_build(
        settings,
        build_definitions(settings),
        window,
        full_refresh=args.full_refresh,
        log_level=dagster_log_level(args),
        run_id=run_id,
    )
    print_build(result)
    print(f"Dagster run in the data directory's instance; to see it: {dagster_dev_command(settings)}")
    return 0 if result.passed else 1
