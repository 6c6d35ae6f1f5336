"""The catalog enrichment's Iceberg tables (`lake.catalog_*`) as warehouse sources.

They live in the lake's namespace beside the report tables, so a build pins their snapshots with the
others (`Pinned`) and their views name exactly the data files of those snapshots: a published
catalog keeps answering what the build read while enrichment commits new snapshots. Current tables
are unpartitioned, daily-history tables partitioned by `snapshot_date` (a column of their files).
They are exposed as `lake.<table>` views (typed and empty-safe) in the build session and the
published catalog.
"""

from __future__ import annotations

from pathlib import Path

import duckdb

from pipeline.enrichment.tables import CATALOG_TABLES, CatalogTable
from pipeline.warehouse.pinned import Pinned
from pipeline.warehouse.quoting import quote_identifier
from pipeline.warehouse.sources import Columns, duckdb_type, files_select


def catalog_columns(table: CatalogTable) -> Columns:
    """The table's columns and DuckDB types (daily tables end with `snapshot_date DATE`)."""
    return tuple((f.name, duckdb_type(f.type)) for f in table.stored_schema)


def catalog_select(pinned: Pinned, table: CatalogTable, *, base: Path | None = None) -> str:
    """SELECT the table's columns from the data files of its pinned snapshot, or a typed empty
    SELECT. `base`: name the files relative to it (the published catalog's directory)."""
    files = [f for found in pinned.lake_files(table.name).values() for f in found]
    return files_select(files, catalog_columns(table), base=base)


def define_catalog_views(con: duckdb.DuckDBPyConnection, pinned: Pinned, *, base: Path | None = None) -> None:
    """`lake.<catalog table>` views over the pinned catalog snapshots (schema `lake` exists)."""
    for table in CATALOG_TABLES.values():
        select = catalog_select(pinned, table, base=base)
        con.execute(f"CREATE VIEW lake.{quote_identifier(table.name)} AS {select}")
