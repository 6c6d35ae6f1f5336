"""`spotify-bulk enrich`: run the catalog job (Web API enrichment) and report what each asset did."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from pipeline.cli.args import dagster_log_level
from pipeline.cli.commands import COMMANDS
from pipeline.config import Settings
from pipeline.errors import UsageError
from pipeline.orchestration.catalog_runs import EnrichSummary, run_enrich


def add_parser(subparsers: Any) -> None:
    enrich = subparsers.add_parser("enrich", help=COMMANDS["enrich"])
    enrich.add_argument(
        "--ttl-days", type=float, default=7.0, help="refetch ids older than this many days (default 7)"
    )
    enrich.add_argument("--max-ids", type=int, default=0, help="most ids asked per kind (default: no cap)")


def print_summary(summary: EnrichSummary) -> None:
    for name, meta in sorted(summary.assets.items()):
        rows = int(meta.get("dagster/row_count", 0))
        if "requests" not in meta:  # a daily-history table: today's snapshot
            print(f"  {name}: {rows:,} rows in today's snapshot", flush=True)
            continue
        if meta.get("available", True) is False:
            print(f"  {name}: not available to this app (403); skipped, run stays green", flush=True)
            continue
        malformed = int(meta.get("malformed_lake_ids", 0))
        print(
            f"  {name}: {rows:,} rows; asked {int(meta.get('ids_requested', 0)):,} ids in "
            f"{int(meta.get('requests', 0)):,} requests; {int(meta.get('not_found', 0)):,} not found"
            + (f"; {malformed:,} malformed ids in the lake, not asked" if malformed else ""),
            flush=True,
        )
    print(
        f"Enrichment {'done' if summary.success else 'FAILED'} in {summary.seconds:.1f} s: "
        f"{summary.requests:,} Web API requests (run {summary.run_id})",
        flush=True,
    )
    if summary.error:
        print(f"error: {summary.error}", file=sys.stderr)


def run(args: argparse.Namespace, settings: Settings) -> int:
    """Run, print, exit code 1 on failure."""
    if args.ttl_days < 0 or args.max_ids < 0:
        raise UsageError("--ttl-days and --max-ids must not be negative")
    print(f"Enriching the catalog from the Web API (TTL {args.ttl_days:g} days)", flush=True)
    from pipeline.definitions import build_definitions

    summary = run_enrich(
        settings,
        build_definitions(settings),
        ttl_days=args.ttl_days,
        max_ids=args.max_ids,
        log_level=dagster_log_level(args),
    )
    print_summary(summary)
    return 0 if summary.success else 1
