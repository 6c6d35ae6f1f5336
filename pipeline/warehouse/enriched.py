"""The catalog enrichment's tables (`lake/catalog_*`) as warehouse sources: views and snapshot links.

Catalog tables are not partitioned by licensor and date like the report tables: current tables are
one file each, daily-history tables are partitioned by `snapshot_date=`. These helpers give them
the same treatment as the report tables: linked into every lake snapshot, and exposed as
`lake.<table>` views (typed and empty-safe) in the build session and the published catalog.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import duckdb

from pipeline.enrichment.tables import CATALOG_TABLES, SNAPSHOT_COLUMN, CatalogTable
from pipeline.warehouse.links import link_tree
from pipeline.warehouse.quoting import quote_identifier, quote_literal
from pipeline.warehouse.sources import Columns, duckdb_type, empty_select, sql_path


def catalog_columns(table: CatalogTable) -> Columns:
    """The table's columns and DuckDB types (daily tables end with `snapshot_date DATE`)."""
    columns = tuple((f.name, duckdb_type(f.type)) for f in table.schema)
    return (*columns, (SNAPSHOT_COLUMN, "DATE")) if table.daily else columns


def catalog_select(lake_root: Path, table: CatalogTable, *, base: Path | None = None) -> str:
    """SELECT the table's columns from its Parquet under `lake_root`, or a typed empty SELECT.

    `base`: name the files relative to it (the published catalog's directory).
    """
    root = lake_root / table.name
    columns = catalog_columns(table)
    if next(root.glob(table.glob), None) is None:
        return empty_select(columns)
    names = ", ".join(quote_identifier(name) for name, _ in columns)
    options = (
        f", hive_partitioning = true, hive_types = {{'{SNAPSHOT_COLUMN}': 'DATE'}}"
        if table.daily
        else ", hive_partitioning = false"
    )
    return f"SELECT {names} FROM read_parquet({quote_literal(sql_path(root, base) / table.glob)}{options})"


def define_catalog_views(
    con: duckdb.DuckDBPyConnection, lake_root: Path, *, base: Path | None = None
) -> None:
    """`lake.<catalog table>` views over the catalog files under `lake_root` (schema `lake` exists)."""
    for table in CATALOG_TABLES.values():
        select = catalog_select(lake_root, table, base=base)
        con.execute(f"CREATE VIEW lake.{quote_identifier(table.name)} AS {select}")


def link_catalog(source_lake: Path, target_lake: Path) -> int:
    """Make the catalog tables under `target_lake` link those of `source_lake`; returns files linked."""
    linked = 0
    for table in CATALOG_TABLES.values():
        source = source_lake / table.name
        if not table.daily:
            linked += link_tree(source, target_lake / table.name, partitioned=False)
            continue
        days = {p.name: p for p in source.glob(f"{SNAPSHOT_COLUMN}=*")} if source.is_dir() else {}
        target = target_lake / table.name
        for stale in target.glob(f"{SNAPSHOT_COLUMN}=*") if target.is_dir() else ():
            if stale.name not in days:  # a recycled tree: days the lake no longer has
                shutil.rmtree(stale, ignore_errors=True)
        for name, partition in sorted(days.items()):
            linked += link_tree(partition, target / name, partitioned=False)
    return linked
