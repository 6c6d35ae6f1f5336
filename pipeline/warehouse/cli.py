"""`spotify-bulk build`, `query` and `sql`: argument wiring and handlers.

`pipeline/cli.py` adds these parsers and dispatches to `cmd_build` / `cmd_query` / `cmd_sql`; bad arguments
raise `UsageError` (one clear line, exit code 2).
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from pipeline.cli_args import add_window_args, window_from_args, window_given
from pipeline.dates import DateWindow
from pipeline.errors import UsageError
from pipeline.layout import Layout
from pipeline.settings import Settings
from pipeline.warehouse.build import BuildResult, build_warehouse
from pipeline.warehouse.query import FORMATS, connect_readonly, format_result, run_query
from pipeline.warehouse.shell import run_shell

Subparsers = Any  # argparse's _SubParsersAction is private


def add_build_parser(subparsers: Subparsers) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(
        "build",
        help="build the DuckDB warehouse (staging views and marts) from the lake",
        description="Recompute the marts for a date window (default: every date in the lake), run the "
        "blocking checks and publish warehouse.duckdb atomically.",
    )
    add_window_args(parser)
    parser.add_argument("--full-refresh", action="store_true", help="rebuild every mart over every date")
    return parser


def add_query_parser(subparsers: Subparsers) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(
        "query",
        help="run read-only SQL against the warehouse",
        description="Query warehouse.duckdb read-only; statements that would write are refused.",
    )
    parser.add_argument("sql", help='the SQL, e.g. "SELECT * FROM fct_track_performance LIMIT 5"')
    parser.add_argument(
        "--format",
        choices=FORMATS,
        default="table",
        help="output format (default: table, with rates as percentages)",
    )
    return parser


def add_sql_parser(subparsers: Subparsers) -> argparse.ArgumentParser:
    return subparsers.add_parser(
        "sql",
        help="an interactive read-only SQL prompt over the warehouse",
        description="Type SQL statements ending in ';' (results print as `query` tables); .quit or "
        "Ctrl+D leaves. Statements that would write are refused. Reads a script from a pipe too.",
    )


def _layout() -> Layout:
    return Layout(Settings.from_env().data_dir.resolve())


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
    for check in result.failed_checks:
        print(f"check FAILED: {check.model}.{check.name}: {check.failures:,} offending rows", file=sys.stderr)
        print(f"  {check.description}", file=sys.stderr)
        for row in check.sample:
            print(f"  e.g. {row}", file=sys.stderr)
    if result.catalog:
        print(f"Published {result.catalog} (snapshot {result.snapshot.name if result.snapshot else '-'})")
    else:
        print("Not published: a blocking check failed; readers keep the previous warehouse.", file=sys.stderr)


def cmd_build(args: argparse.Namespace) -> int:
    window = _window(args)
    result = build_warehouse(_layout(), window, full_refresh=args.full_refresh)
    print_build(result)
    return 0 if result.passed else 1


def cmd_sql(args: argparse.Namespace) -> int:
    layout = _layout()
    connect_readonly(layout).close()  # no warehouse yet: say so once, before any prompt
    failures = run_shell(layout, sys.stdin, sys.stdout, interactive=sys.stdin.isatty())
    return 0 if failures == 0 or sys.stdin.isatty() else 1


def cmd_query(args: argparse.Namespace) -> int:
    result = run_query(_layout(), args.sql)
    print(format_result(result, args.format))
    return 0
