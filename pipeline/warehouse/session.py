"""A DuckDB connection for building: the lake snapshot, seeds and every model defined as views.

The connection is in memory, never the published catalog file, so building takes no lock that a
reader could trip over. Marts are views over their published Parquet, refreshed after each build.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from pathlib import Path

import duckdb

from pipeline.reports import TABLES_BY_NAME
from pipeline.warehouse.enriched import define_catalog_views
from pipeline.warehouse.models import Model, ModelError
from pipeline.warehouse.paths import WarehousePaths, partition_dirs
from pipeline.warehouse.quoting import quote_identifier, quote_literal
from pipeline.warehouse.sources import Columns, empty_select, lake_columns, parquet_select, seed_select

_PROBE_DAY = date(2000, 1, 1)


class Session:
    """Build-time views over one lake snapshot; marts read their live Parquet under `marts/`."""

    def __init__(
        self, paths: WarehousePaths, models: Sequence[Model], lake_root: Path, sql_root: Path
    ) -> None:
        self.paths = paths
        self.models = {m.name: m for m in models}
        self.lake_root = lake_root
        self.con = duckdb.connect(":memory:")
        temp = paths.staging_root / "duckdb-temp"
        temp.mkdir(parents=True, exist_ok=True)
        self.con.execute(f"SET temp_directory = {quote_literal(temp)}")
        self.columns: dict[str, Columns] = {}
        self.stale: set[str] = set()  # marts whose published files predate a change of columns
        self.lake_partitions = {t: partition_dirs(lake_root / t) for t in TABLES_BY_NAME}
        self._define_sources(sql_root)
        for model in models:
            self.define(model)

    def close(self) -> None:
        self.con.close()

    def __enter__(self) -> Session:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def lake_dates(self) -> set[date]:
        """Every date with at least one lake partition in the snapshot."""
        return {day for parts in self.lake_partitions.values() for _, day, _ in parts}

    def _define_sources(self, sql_root: Path) -> None:
        self.con.execute("CREATE SCHEMA lake")
        for table in TABLES_BY_NAME:
            select = parquet_select(self.lake_root / table, lake_columns(table), partitioned=True)
            self.con.execute(f"CREATE VIEW lake.{quote_identifier(table)} AS {select}")
        define_catalog_views(self.con, self.lake_root)  # lake.catalog_*: the Web API enrichment
        self.con.execute("CREATE SCHEMA seeds")
        for seed in sorted({s for m in self.models.values() for s in m.seeds}):
            path = sql_root / "seeds" / f"{seed}.csv"
            self.con.execute(f"CREATE VIEW seeds.{quote_identifier(seed)} AS {seed_select(path)}")
        rows = [(t, lic, day) for t, parts in self.lake_partitions.items() for lic, day, _ in parts]
        self.con.execute(
            "CREATE TEMP TABLE _lake_partitions (table_name VARCHAR, licensor VARCHAR, date DATE)"
        )
        if rows:
            self.con.executemany("INSERT INTO _lake_partitions VALUES (?, ?, ?)", rows)

    def params(self, model: Model, start: date, end: date) -> dict[str, date]:
        """The window parameters a model takes (none for views and whole-table marts)."""
        return {"start": start, "end": end} if model.materialized and model.partitioned else {}

    def define(self, model: Model) -> None:
        """(Re)define `model` as a view: its SQL for staging, its published Parquet for marts."""
        name = quote_identifier(model.name)
        if not model.materialized:
            self.con.execute(f"CREATE OR REPLACE VIEW {name} AS {model.sql}\n")
            self.columns[model.name] = self.describe(model.sql, {})
            return
        columns = self.describe(model.sql, self.params(model, _PROBE_DAY, _PROBE_DAY))
        names = {c for c, _ in columns}
        missing = [k for k in model.key if k not in names]
        if model.partitioned:
            missing += [c for c in ("licensor", "date") if c not in names]
        if missing:
            raise ModelError(f"{model.path}: output lacks column(s) {', '.join(dict.fromkeys(missing))}")
        wide = [c for c, kind in columns if kind in ("HUGEINT", "UHUGEINT")]
        if wide:
            raise ModelError(
                f"{model.path}: cast {', '.join(wide)} to BIGINT (Parquet stores HUGEINT as DOUBLE)"
            )
        self.columns[model.name] = columns
        root = self.paths.mart_dir(model.name)
        if self._published_differs(model):
            # Files of an older version of the model: hide them until the model is rebuilt whole.
            self.stale.add(model.name)
            source = empty_select(columns)
        else:
            self.stale.discard(model.name)
            source = parquet_select(root, columns, partitioned=model.partitioned)
        self.con.execute(f"CREATE OR REPLACE VIEW {name} AS {source}")

    def _published_differs(self, model: Model) -> bool:
        """True when published files have other columns than the model now produces."""
        root = self.paths.mart_dir(model.name)
        sample = next(root.glob("licensor=*/date=*/*.parquet" if model.partitioned else "*.parquet"), None)
        if sample is None:
            return False
        found = self.con.execute(
            f"DESCRIBE SELECT * FROM read_parquet({quote_literal(sample)}, hive_partitioning = false)"
        ).fetchall()
        hive = ("licensor", "date") if model.partitioned else ()
        expected = [c for c in self.columns[model.name] if c[0] not in hive]
        return [(str(r[0]), str(r[1])) for r in found] != expected

    def describe(self, sql: str, params: dict[str, date]) -> Columns:
        """Output columns and DuckDB types of a query, without running it."""
        rows = self.con.execute(f"DESCRIBE SELECT * FROM (\n{sql}\n)", params).fetchall()
        return tuple((str(r[0]), str(r[1])) for r in rows)
