"""`spotify-bulk migrate`: convert a data directory of the previous version to Iceberg tables."""

from __future__ import annotations

import argparse
from typing import Any

from pipeline.cli.commands import COMMANDS
from pipeline.config import Settings, open_table_lake
from pipeline.enrichment.legacy import migrate_catalog
from pipeline.layout import Layout
from pipeline.storage.migrate import is_legacy, migrate


def add_parser(subparsers: Any) -> None:
    subparsers.add_parser(
        "migrate",
        help=COMMANDS["migrate"],
        description="Commit every Hive partition of the previous version's lake (lake/{table}/licensor=/"
        "date=/) and its Web API catalog files (lake/catalog_*) into the Iceberg tables, then remove the "
        "old lake folders and files and the warehouse snapshot trees. "
        "The archive, rejects and ledger are kept as they are; run `spotify-bulk build --full-refresh` "
        "afterwards to rebuild the marts.",
    )


def run(args: argparse.Namespace, settings: Settings) -> int:
    del args
    layout = Layout(settings.lake_dir)
    if not is_legacy(layout):
        print(f"{layout.data_dir}: nothing to migrate (no lake of the previous version)")
        return 0
    tables = open_table_lake(settings)
    catalog = migrate_catalog(layout, tables)
    done = migrate(layout, tables)
    print(
        f"Migrated {done.partitions} partition(s), {done.rows:,} rows, and {catalog.files} Web API "
        f"catalog file(s), {catalog.rows:,} rows, into Iceberg tables; removed "
        f"{len(done.removed) + len(catalog.removed)} old folder(s) and file(s). "
        "Next: spotify-bulk build --full-refresh"
    )
    return 0
