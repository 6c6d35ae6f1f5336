"""SQL text for reading Parquet (lake tables, marts) and seeds as views, empty-safe.

A view over no file would fail in DuckDB; these helpers fall back to a typed empty SELECT so every
view exists, with the right columns, before any data has landed.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pyarrow as pa

from pipeline.reports import TABLES_BY_NAME
from pipeline.warehouse.quoting import quote_identifier, quote_literal

Columns = tuple[tuple[str, str], ...]
PARTITION_COLUMNS: Columns = (("licensor", "VARCHAR"), ("date", "DATE"))

_SCALARS = {
    pa.string(): "VARCHAR",
    pa.large_string(): "VARCHAR",
    pa.int64(): "BIGINT",
    pa.int32(): "INTEGER",
    pa.int16(): "SMALLINT",
    pa.float64(): "DOUBLE",
    pa.float32(): "FLOAT",
    pa.bool_(): "BOOLEAN",
    pa.date32(): "DATE",
}


def duckdb_type(arrow_type: pa.DataType) -> str:
    """The DuckDB type a Parquet column of `arrow_type` reads as."""
    if arrow_type in _SCALARS:
        return _SCALARS[arrow_type]
    if pa.types.is_timestamp(arrow_type):
        return "TIMESTAMP WITH TIME ZONE" if arrow_type.tz else "TIMESTAMP"
    if pa.types.is_list(arrow_type) or pa.types.is_large_list(arrow_type):
        return f"{duckdb_type(arrow_type.value_type)}[]"
    raise TypeError(f"no DuckDB mapping for Arrow type {arrow_type}")


def lake_columns(table: str) -> Columns:
    """Declared and lineage columns of a lake table, then the partition columns."""
    schema = TABLES_BY_NAME[table].schema
    return tuple((f.name, duckdb_type(f.type)) for f in schema) + PARTITION_COLUMNS


def empty_select(columns: Columns) -> str:
    """A SELECT with `columns` and no rows."""
    items = ", ".join(f"CAST(NULL AS {kind}) AS {quote_identifier(name)}" for name, kind in columns)
    return f"SELECT {items} WHERE false"


def sql_path(path: Path | str, base: Path | None) -> str:
    """`path` as SQL names it: relative to `base` when it lies under it, so the published catalog
    moves with its data directory (readers resolve it through DuckDB's `file_search_path`, see
    catalog.py); object-store URIs as they are."""
    if isinstance(path, str) or base is None:
        return str(path)
    # Compared as text (both are normalised absolute paths): a publish names every file of the
    # history, and `Path.relative_to` costs more than the rest of its listing.
    text, root = str(path), str(base)
    root = root if root.endswith("/") else root + "/"
    return text[len(root) :] if text.startswith(root) else text


def files_select(files: Sequence[Path | str], columns: Columns, *, base: Path | None = None) -> str:
    """SELECT `columns` from exactly `files` (Iceberg data files: partition columns included).

    Binding a listed file costs less than globbing a tree: views over the few files a build reads
    cost what those hold, not what the whole history does. (No `union_by_name`: it would open every
    listed file's footer at each bind; the files of one table share its schema. Hive partitioning
    stays on although the files hold their partition columns: DuckDB prunes the listed files by
    their `licensor=`/`date=` paths, so a query on one date opens that date's files only.)
    """
    if not files:
        return empty_select(columns)
    names = ", ".join(quote_identifier(name) for name, _ in columns)
    listed = "[" + ", ".join(quote_literal(sql_path(f, base)) for f in files) + "]"
    return f"SELECT {names} FROM read_parquet({listed})"


def seed_select(path: Path) -> str:
    """A seed CSV (header row, all text) as a SELECT."""
    return f"SELECT * FROM read_csv({quote_literal(path)}, header = true, all_varchar = true)"
