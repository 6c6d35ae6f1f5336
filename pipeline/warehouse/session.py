"""A DuckDB connection for building: the pinned lake, seeds and every model defined as views.

The connection is in memory, never the published catalog file, so building takes no lock that a
reader could trip over. Lake tables are views over the data files of the snapshots the build
pinned; marts are views over their Iceberg table's current data files, refreshed after each build.

Views over date-partitioned data (the lake's report tables, date-partitioned marts) list the files
of the dates the build reads, not every file of the history: DuckDB binds a view each time a query
names it, and binding a glob over the whole history would make every statement of a daily build cost
more as history grows. A build covers what it reads before reading it (`cover`): a date-partitioned
mart its window and, for a rolling model, the `rolling_days - 1` days of upstream marts before it;
the lake checks their window; an accumulator the days it folds. Anything else sees every date.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING

import duckdb

from pipeline.dates import DateWindow
from pipeline.reports import TABLES_BY_NAME
from pipeline.storage.object_store import duckdb_s3
from pipeline.warehouse.enriched import define_catalog_views
from pipeline.warehouse.models import PARTS, Accumulator, Model, ModelError, discover_accumulators
from pipeline.warehouse.options import WarehouseOptions
from pipeline.warehouse.paths import WarehousePaths
from pipeline.warehouse.pinned import FileRef, Pinned
from pipeline.warehouse.quoting import quote_identifier, quote_literal
from pipeline.warehouse.sources import Columns, empty_select, files_select, lake_columns, seed_select

if TYPE_CHECKING:
    from pipeline.warehouse.accumulate import AccumulatorBuild

_PROBE_DAY = date(2000, 1, 1)


class Session:
    """Build-time views over the pinned lake snapshots; marts read their tables' current files.

    `window`: the dates the date-partitioned views cover at first (None: every date);
    `accumulators`: those under `sql_root`, if the caller has read them already.
    """

    def __init__(
        self,
        paths: WarehousePaths,
        models: Sequence[Model],
        pinned: Pinned,
        sql_root: Path,
        *,
        window: DateWindow | None = None,
        accumulators: Sequence[Accumulator] | None = None,
        options: WarehouseOptions | None = None,
    ) -> None:
        self.paths = paths
        self.options = options or WarehouseOptions()
        self.models = {m.name: m for m in models}
        self.pinned = pinned
        self.con = duckdb.connect(":memory:")
        temp = paths.staging_root / "duckdb-temp"
        temp.mkdir(parents=True, exist_ok=True)
        self.con.execute(f"SET temp_directory = {quote_literal(temp)}")
        self.options.apply(self.con)
        if paths.lake.on_object_store:
            duckdb_s3(self.con, paths.lake.store)
        self.columns: dict[str, Columns] = {}
        self.stale: set[str] = set()  # marts whose published files predate a change of columns
        self.lake_partitions = {t: pinned.lake_partitions(t) for t in TABLES_BY_NAME}
        used = {a for m in models for a in m.accumulators}
        known = discover_accumulators(sql_root) if accumulators is None else accumulators
        self.accumulators = {a.name: a for a in known if a.name in used}
        self.accumulator_columns: dict[str, Columns] = {}
        self.prepared: list[AccumulatorBuild] = []  # what each accumulator's preparation did
        self.covered: DateWindow | None = window  # with `everything`, what the dated views list
        self.everything = window is None
        self._define_sources(sql_root)
        for model in models:
            for name in model.accumulators:
                if name not in self.accumulator_columns:
                    self._define_accumulator(self.accumulators[name])
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

    def cover(self, window: DateWindow | None) -> None:
        """Make the date-partitioned views show `window` too (None: every date); never narrows."""
        if self.everything:
            return
        if window is None:
            self.everything = True
        else:
            old = self.covered
            span = (
                window if old is None else DateWindow(min(old.start, window.start), max(old.end, window.end))
            )
            if span == old:
                return
            self.covered = span
        self._define_dated_views()

    def _covered_span(self) -> tuple[date, date]:
        """The covered dates as bounds (every date: the widest), compared inline: a long history
        has thousands of partitions to filter at each view definition."""
        if self.everything:
            return date.min, date.max
        if self.covered is None:
            return date.max, date.min  # nothing
        return self.covered.start, self.covered.end

    def _lake_select(self, table: str) -> str:
        start, end = self._covered_span()
        files = [f for _, day, found in self.lake_partitions[table] if start <= day <= end for f in found]
        return files_select(files, lake_columns(table))

    def mart_files(self, model: Model) -> list[FileRef]:
        """The mart's current data files (of the covered dates, for a date-partitioned one)."""
        found = self.pinned.mart_files(model.name)
        start, end = self._covered_span() if model.partitioned else (date.min, date.max)
        return [f for (_, day), files in found.items() if start <= day <= end for f in files]

    def _mart_select(self, model: Model) -> str:
        columns = self.columns[model.name]
        if model.name in self.stale:
            return empty_select(columns)  # files of an older version: hidden until rebuilt whole
        return files_select(self.mart_files(model), columns)

    def _define_dated_views(self) -> None:
        for table in TABLES_BY_NAME:
            self.con.execute(
                f"CREATE OR REPLACE VIEW lake.{quote_identifier(table)} AS {self._lake_select(table)}"
            )
        for name in self.columns:
            model = self.models[name]
            if model.materialized and model.partitioned:
                self.refresh(model)

    def _define_sources(self, sql_root: Path) -> None:
        self.con.execute("CREATE SCHEMA lake")
        for table in TABLES_BY_NAME:
            self.con.execute(f"CREATE VIEW lake.{quote_identifier(table)} AS {self._lake_select(table)}")
        define_catalog_views(self.con, self.pinned)  # lake.catalog_*: Web API data
        self.con.execute("CREATE SCHEMA seeds")
        for seed in sorted({s for m in self.models.values() for s in m.seeds}):
            path = sql_root / "seeds" / f"{seed}.csv"
            self.con.execute(f"CREATE VIEW seeds.{quote_identifier(seed)} AS {seed_select(path)}")
        self.con.execute(
            "CREATE TEMP TABLE _lake_partitions (table_name VARCHAR, licensor VARCHAR, date DATE)"
        )
        rows = [(t, lic, day) for t, parts in self.lake_partitions.items() for lic, day, _ in parts]
        if rows:  # one statement, not one per partition: a long history has thousands
            tables, licensors, days = (list(column) for column in zip(*rows, strict=True))
            self.con.execute(
                "INSERT INTO _lake_partitions SELECT unnest($t), unnest($l), unnest($d)",
                {"t": tables, "l": licensors, "d": days},
            )

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
        if self._published_differs(model):
            self.stale.add(model.name)
        else:
            self.stale.discard(model.name)
        self.refresh(model)

    def refresh(self, model: Model) -> None:
        """Point a mart's view at its published files again (after a build wrote them)."""
        if model.materialized:
            self.con.execute(
                f"CREATE OR REPLACE VIEW {quote_identifier(model.name)} AS {self._mart_select(model)}"
            )

    def built(self, model: Model) -> None:
        """`model` was just rebuilt whole: its files have the columns it produces now."""
        self.stale.discard(model.name)
        self.refresh(model)

    def _published_differs(self, model: Model) -> bool:
        """True when published files have other columns than the model now produces."""
        sample = next(iter(self.pinned.mart_files(model.name).values()), [None])[0]
        if sample is None:
            return False
        found = self.con.execute(f"DESCRIBE SELECT * FROM read_parquet({quote_literal(sample)})").fetchall()
        return [(str(r[0]), str(r[1])) for r in found] != list(self.columns[model.name])

    def _define_accumulator(self, acc: Accumulator) -> None:
        """Describe an accumulator (its days' rows, and that its merge keeps them) and define it empty."""
        columns = self.describe(acc.days_sql, {"start": _PROBE_DAY, "end": _PROBE_DAY})
        missing = [k for k in acc.key if k not in {c for c, _ in columns}]
        if missing:
            raise ModelError(f"{acc.path}: output lacks key column(s) {', '.join(missing)}")
        if acc.merge_sql is not None:
            self.con.execute(f"CREATE OR REPLACE TEMP VIEW {PARTS} AS {empty_select(columns)}")
            merged = self.describe(acc.merge_sql, {})
            if merged != columns:
                raise ModelError(f"{acc.path}: the merge statement must return the columns of the first")
        self.accumulator_columns[acc.name] = columns
        self.con.execute(f"CREATE OR REPLACE VIEW {quote_identifier(acc.name)} AS {empty_select(columns)}")

    def describe(self, sql: str, params: dict[str, date]) -> Columns:
        """Output columns and DuckDB types of a query, without running it."""
        rows = self.con.execute(f"DESCRIBE SELECT * FROM (\n{sql}\n)", params).fetchall()
        return tuple((str(r[0]), str(r[1])) for r in rows)
