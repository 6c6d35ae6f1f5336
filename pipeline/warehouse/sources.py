"""SQL text for reading Parquet (lake tables, marts) and seeds as views, empty-safe.

A view over a glob that matches no file would fail in DuckDB; these helpers fall back to a typed
empty SELECT so every view exists, with the right columns, before any data has landed.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import pyarrow as pa

from pipeline.reports import TABLES_BY_NAME
from pipeline.warehouse.quoting import quote_identifier, quote_literal

Columns = tuple[tuple[str, str], ...]
HIVE_COLUMNS: Columns = (("licensor", "VARCHAR"), ("date", "DATE"))
_HIVE_OPTIONS = "hive_partitioning = true, hive_types = {'licensor': 'VARCHAR', 'date': 'DATE'}"

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
    """Declared and lineage columns of a lake table, then the Hive partition columns."""
    schema = TABLES_BY_NAME[table].schema
    return tuple((f.name, duckdb_type(f.type)) for f in schema) + HIVE_COLUMNS


def empty_select(columns: Columns) -> str:
    """A SELECT with `columns` and no rows."""
    items = ", ".join(f"CAST(NULL AS {kind}) AS {quote_identifier(name)}" for name, kind in columns)
    return f"SELECT {items} WHERE false"


def has_parquet(root: Path, *, partitioned: bool) -> bool:
    pattern = "licensor=*/date=*/*.parquet" if partitioned else "*.parquet"
    return next(root.glob(pattern), None) is not None


def sql_path(path: Path, base: Path | None) -> Path:
    """`path` as SQL names it: relative to `base` when given, so the published catalog moves with
    its data directory (readers resolve it through DuckDB's `file_search_path`, see catalog.py)."""
    return path if base is None else path.relative_to(base)


def parquet_select(root: Path, columns: Columns, *, partitioned: bool, base: Path | None = None) -> str:
    """SELECT `columns` from the Parquet under `root` (Hive `licensor=/date=` when partitioned)."""
    if not has_parquet(root, partitioned=partitioned):
        return empty_select(columns)
    names = ", ".join(quote_identifier(name) for name, _ in columns)
    named = sql_path(root, base)
    if partitioned:
        source = f"read_parquet({quote_literal(named / '*' / '*' / '*.parquet')}, {_HIVE_OPTIONS})"
    else:
        source = f"read_parquet({quote_literal(named / '*.parquet')})"
    return f"SELECT {names} FROM {source}"


def parquet_files(directory: Path) -> list[Path]:
    """The Parquet files of one partition directory, sorted (none if it is gone)."""
    try:
        with os.scandir(directory) as entries:
            return sorted(Path(e.path) for e in entries if e.name.endswith(".parquet"))
    except FileNotFoundError:
        return []


def files_select(
    files: Sequence[Path], columns: Columns, *, partitioned: bool, base: Path | None = None
) -> str:
    """SELECT `columns` from exactly `files` (Hive `licensor=/date=` from their paths when partitioned).

    Binding a listed file costs less than globbing a tree: views over the few files a build reads
    cost what those hold, not what the whole history does.
    """
    if not files:
        return empty_select(columns)
    names = ", ".join(quote_identifier(name) for name, _ in columns)
    listed = "[" + ", ".join(quote_literal(sql_path(f, base)) for f in files) + "]"
    options = f", {_HIVE_OPTIONS}" if partitioned else ""
    return f"SELECT {names} FROM read_parquet({listed}{options})"


def seed_select(path: Path) -> str:
    """A seed CSV (header row, all text) as a SELECT."""
    return f"SELECT * FROM read_csv({quote_literal(path)}, header = true, all_varchar = true)"
