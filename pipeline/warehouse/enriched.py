"""The catalog enrichment's tables (`lake/catalog_*`) as warehouse sources.

Catalog tables are not partitioned by licensor and date like the report tables: current tables are
one file each (replaced atomically), daily-history tables are partitioned by `snapshot_date=`.
They are exposed as `lake.<table>` views (typed and empty-safe) in the build session and the
published catalog. (Not Iceberg tables yet: see docs/data-model.md.)
"""

from __future__ import annotations

from pathlib import Path

import duckdb

from pipeline.enrichment.tables import CATALOG_TABLES, SNAPSHOT_COLUMN, CatalogTable
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
    return (
        f"SELECT {names} FROM read_parquet({quote_literal(Path(sql_path(root, base)) / table.glob)}{options})"
    )


def define_catalog_views(
    con: duckdb.DuckDBPyConnection, lake_root: Path, *, base: Path | None = None
) -> None:
    """`lake.<catalog table>` views over the catalog files under `lake_root` (schema `lake` exists)."""
    for table in CATALOG_TABLES.values():
        select = catalog_select(lake_root, table, base=base)
        con.execute(f"CREATE VIEW lake.{quote_identifier(table.name)} AS {select}")
