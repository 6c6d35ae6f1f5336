"""`spotify-bulk retention`: delete partitions older than N days (personal data limits)."""

from __future__ import annotations

import argparse
from datetime import date
from typing import TYPE_CHECKING, Any

from pipeline.cli.commands import COMMANDS
from pipeline.config import Settings, open_table_lake
from pipeline.errors import UsageError
from pipeline.ingest.archive_store import delete_before as delete_archive_before
from pipeline.layout import Layout
from pipeline.orchestration.retention import apply_retention

if TYPE_CHECKING:  # Dagster is imported where used: every command reads this module, even `--help`
    from pipeline.orchestration.event_retention import Purged


def add_parser(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "retention",
        help=COMMANDS["retention"],
        description="Delete every archive, lake, rejects and ledger partition dated more than N days "
        "before today (UTC), from every Iceberg table and every snapshot still holding it, everything "
        "Dagster keeps about the runs of those days, and staging leftovers of crashed runs. The archive "
        "and the rejects hold personal data: this is how long it is kept.",
    )
    parser.add_argument("--keep-days", type=int, required=True, help="days to keep (at least 1)")
    parser.add_argument("--dry-run", action="store_true", help="list what would be deleted, delete nothing")


def run(args: argparse.Namespace, settings: Settings) -> int:
    if args.keep_days < 1:
        raise UsageError("--keep-days must be at least 1")
    layout = Layout(settings.lake_dir)
    tables = open_table_lake(settings)
    result = apply_retention(layout, keep_days=args.keep_days, dry_run=args.dry_run, tables=tables)
    purged = _prune_dagster(settings, result.cutoff, dry_run=result.dry_run)
    verb = "would delete" if result.dry_run else "deleted"
    for item in result.expired if result.dry_run else ():
        print(f"{verb} {item.kind}: {item.path}")
    counts = result.counts()
    kinds = ("archive", "lake", "rejects", "ledger", "staging") + (("mart",) if counts["mart"] else ())
    summary = ", ".join(f"{counts[k]} {k}" for k in kinds)
    print(
        f"Retention (keep {args.keep_days} days, before {result.cutoff:%Y-%m-%d}): {verb} {summary} "
        f"partition(s), {result.bytes:,} bytes; {len(purged.runs)} Dagster run(s) of those days with their "
        f"events, compute logs and {purged.check_executions} check execution(s)"
    )
    if settings.archive_url and not result.dry_run:
        gone = delete_archive_before(settings.archive_url, result.cutoff, settings.object_store)
        print(
            f"Archive {settings.archive_url}: {gone} object(s) of days before {result.cutoff:%Y-%m-%d} "
            "deleted"
        )
    return 0


def _prune_dagster(settings: Settings, cutoff: date, *, dry_run: bool) -> Purged:
    """Runs of expired partitions in the project's Dagster instance, with everything Dagster keeps
    about them (previews, check results, logs and compute logs are kept there, not in the lake)."""
    from pipeline.orchestration.event_retention import purge_expired
    from pipeline.orchestration.instance import open_instance

    instance = open_instance(settings)
    try:
        purged = purge_expired(instance, cutoff, dry_run=dry_run)
    finally:
        instance.dispose()
    for run_id in purged.runs if dry_run else ():
        print(f"would delete Dagster run {run_id} (its event records, check executions and compute logs)")
    return purged
