"""`spotify-bulk build`: recompute the marts for a window, check them, publish the warehouse."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from pipeline.cli.args import add_window_args, window_from_args, window_given
from pipeline.config import Settings, open_table_lake
from pipeline.dates import DateWindow
from pipeline.errors import UsageError
from pipeline.layout import Layout
from pipeline.warehouse.build import BuildResult, build_warehouse
from pipeline.warehouse.options import WarehouseOptions
from pipeline.warehouse.table_cache import sync_cache


def add_parser(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "build",
        help="build the DuckDB warehouse (staging views and marts) from the lake",
        description="Recompute the marts for a date window (default: every date in the lake), run the "
        "blocking checks and publish warehouse.duckdb atomically.",
    )
    add_window_args(parser)
    parser.add_argument("--full-refresh", action="store_true", help="rebuild every mart over every date")


def _window(args: argparse.Namespace) -> DateWindow | None:
    given = window_given(args)
    if args.full_refresh and given:
        raise UsageError("--full-refresh rebuilds every date; drop --date/--start/--end/--period")
    return window_from_args(args) if given else None


def warehouse_options(settings: Settings) -> WarehouseOptions:
    return WarehouseOptions(lookback_days=settings.lookback_days)


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


def sync_table_lake(settings: Settings, layout: Layout) -> None:
    """With a table-format lake, pin its snapshots and bring the local read cache up to them."""
    if not settings.table_lake:
        return
    synced = sync_cache(open_table_lake(settings), layout)
    print(
        f"Lake {settings.lake_url}: pinned {len(synced.pins)} table snapshots; {synced.fetched} partitions "
        f"fetched, {synced.kept} current, {synced.removed} removed from the local cache"
    )


def run(args: argparse.Namespace, settings: Settings) -> int:
    window = _window(args)
    sync_table_lake(settings, Layout(settings.lake_dir))
    result = build_warehouse(
        Layout(settings.lake_dir), window, full_refresh=args.full_refresh, options=warehouse_options(settings)
    )
    print_build(result)
    return 0 if result.passed else 1
