"""Build the warehouse: pin the lake's snapshots, blocking lake checks, marts in order, key checks,
publish (a catalog over the pinned and written snapshots, whose ids the result reports).

One build at a time per data directory (an exclusive lock). Each date-partitioned mart recomputes
only its window (plus, for rolling models, the days whose rolling sums the window feeds), and the
session's views list only the files of the dates read; dimensions fold the newest days into their
accumulated state (`accumulate.py`) instead of re-reading the history, so a daily build does not
grow with history.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import date, timedelta
from pathlib import Path

from pipeline.config import tables_for
from pipeline.dates import DateWindow
from pipeline.ingest.tally import RejectTally, read_tallies
from pipeline.layout import Layout
from pipeline.reports import TABLES_BY_NAME
from pipeline.storage.atomic import exclusive_lock
from pipeline.storage.catalog_lock import build_reading
from pipeline.storage.migrate import refuse_legacy
from pipeline.storage.tables import TableLake
from pipeline.warehouse.accumulate import AccumulatorBuild, prepare
from pipeline.warehouse.catalog import publish_catalog
from pipeline.warehouse.checks import SAMPLE_ROWS, CheckOutcome, lake_checks, unique_key_check
from pipeline.warehouse.materialize import (
    ModelBuild,
    build_partitioned,
    build_whole,
    chunks,
    mart_dates,
)
from pipeline.warehouse.models import SQL_ROOT, Accumulator, Model, discover
from pipeline.warehouse.options import WarehouseOptions
from pipeline.warehouse.paths import WarehousePaths
from pipeline.warehouse.pinned import Pinned
from pipeline.warehouse.reconcile import rejects_note
from pipeline.warehouse.session import Session

Log = Callable[[str], None]


@dataclass(frozen=True)
class BuildResult:
    """What a build did, what its checks found and whether the catalog was published."""

    window: DateWindow | None
    models: tuple[ModelBuild, ...]
    checks: tuple[CheckOutcome, ...]
    catalog: Path | None
    snapshot: Path | None  # no longer used (snapshots are the tables' own: see `snapshot_ids`)
    seconds: float
    timings: dict[str, float] = field(default_factory=dict)
    rejects: str = ""  # "N lines rejected at landing on these days: ..." for the window, if any
    accumulators: tuple[AccumulatorBuild, ...] = ()  # what each dimension state's update did
    # `lake.<table>` / `marts.<model>` -> the Iceberg snapshot the build read or wrote (published
    # ones are tagged in their tables): `table.scan(snapshot_id=...)` reproduces its inputs.
    snapshot_ids: dict[str, int] = field(default_factory=dict)

    @property
    def passed(self) -> bool:
        return all(c.passed for c in self.checks)

    @property
    def failed_checks(self) -> tuple[CheckOutcome, ...]:
        return tuple(c for c in self.checks if not c.passed)


def _span(days: set[date]) -> DateWindow | None:
    return DateWindow(min(days), max(days)) if days else None


def lake_span(layout: Layout, tables: TableLake | None = None) -> DateWindow | None:
    """The first to the last date in the lake (None when it is empty): what a build covers by default."""
    refuse_legacy(layout)
    lake = tables or tables_for(layout.data_dir)
    names = set(lake.table_names()) & set(TABLES_BY_NAME)
    return _span({day for t in names for _, day in lake.files(t)})


def model_window(
    session: Session, model: Model, target: DateWindow | None, *, full: bool
) -> DateWindow | None:
    """The dates a partitioned model must recompute for a build of `target`."""
    if full or model.name in session.stale:
        return _span(session.lake_dates | mart_dates(session, model))
    if target is None:
        return None
    end = target.end
    if model.rolling_days > 1 and session.lake_dates:
        # Later days' rolling sums include the window: recompute them too (up to the newest lake day).
        end = max(end, min(target.end + timedelta(days=model.rolling_days - 1), max(session.lake_dates)))
    return DateWindow(target.start, end)


def read_window(model: Model, window: DateWindow) -> DateWindow:
    """The dates a partitioned model reads to build `window`: upstream marts' rolling days too."""
    return DateWindow(window.start - timedelta(days=max(model.rolling_days - 1, 0)), window.end)


def build_model(
    session: Session, model: Model, target: DateWindow | None, *, full: bool = False
) -> tuple[ModelBuild | None, CheckOutcome]:
    """Build one mart (whole or for its window) and check its key."""
    if not model.partitioned:
        started = time.monotonic()
        if any(session.models[name].partitioned for name in model.reads):
            session.cover(None)  # it reads dated data whole, not through an accumulator
        for name in model.accumulators:
            prepare(session, session.accumulators[name])
        build = build_whole(session, model)
        build = replace(build, seconds=time.monotonic() - started)
        return build, unique_key_check(session.con, model, None)
    window = model_window(session, model, target, full=full)
    if window is None:
        return None, unique_key_check(session.con, model, None)
    session.cover(read_window(model, window))
    return build_partitioned(session, model, window), unique_key_check(session.con, model, window)


def chunked_lake_checks(
    session: Session, window: DateWindow, *, tallies: Sequence[RejectTally] = ()
) -> list[CheckOutcome]:
    """The lake checks over `window` a date chunk at a time (a year's checks never hold the year's
    rows at once), each check's chunks combined into one outcome: failures summed, samples kept."""
    combined: dict[str, CheckOutcome] = {}
    for chunk in chunks(window):
        tolerance = session.options.reconcile_tolerance
        for outcome in lake_checks(session.con, chunk.start, chunk.end, tallies=tallies, tolerance=tolerance):
            seen = combined.get(outcome.name)
            if seen is not None:
                outcome = replace(
                    seen,
                    passed=seen.passed and outcome.passed,
                    failures=seen.failures + outcome.failures,
                    sample=(*seen.sample, *outcome.sample)[:SAMPLE_ROWS],
                    explained=seen.explained + outcome.explained,
                    note=seen.note or outcome.note,
                )
            combined[outcome.name] = outcome
    return list(combined.values())


def _remove_orphans(paths: WarehousePaths, models: Sequence[Model]) -> None:
    """Drop the mart tables of models that no longer exist (their files go after the grace period)."""
    names = {m.name for m in models if m.materialized}
    for table in paths.marts.table_names():
        if table not in names:
            paths.marts.drop(table)


def _reset_accumulators(
    paths: WarehousePaths, accumulators: Sequence[Accumulator], *, everything: bool
) -> None:
    """Drop the state of accumulators that no longer exist (all of it for a full refresh)."""
    names = set() if everything else {a.name for a in accumulators}
    for table in paths.accumulators.table_names():
        if table not in names:
            paths.accumulators.drop(table)  # its files go with the orphan sweep


def reset_derived_state(
    paths: WarehousePaths, models: Sequence[Model], accumulators: Sequence[Accumulator], *, full_refresh: bool
) -> None:
    """Before a build: drop removed accumulators' state; for a full refresh, all of it and removed marts."""
    _reset_accumulators(paths, accumulators, everything=full_refresh)
    if full_refresh:
        _remove_orphans(paths, models)


def _build_marts(
    session: Session, models: Sequence[Model], target: DateWindow | None, *, full: bool, say: Log
) -> tuple[list[ModelBuild], list[CheckOutcome]]:
    """Build marts in dependency order, stopping at the first failed key check (it blocks)."""
    builds: list[ModelBuild] = []
    checks: list[CheckOutcome] = []
    for model in (m for m in models if m.materialized):
        build, check = build_model(session, model, target, full=full)
        checks.append(check)
        if build is not None:
            builds.append(build)
            say(f"{model.name}: {build.rows:,} rows, {build.partitions_written} partitions written, "
                f"{build.partitions_removed} removed ({build.seconds:.2f} s)")  # fmt: skip
        if not check.passed:
            break
    return builds, checks


def build_warehouse(
    layout: Layout,
    window: DateWindow | None = None,
    *,
    full_refresh: bool = False,
    sql_root: Path = SQL_ROOT,
    log: Log | None = None,
    options: WarehouseOptions | None = None,
    tables: TableLake | None = None,
) -> BuildResult:
    """Build every mart for `window` (default: every lake date), check, and publish the catalog.

    `tables`: the lake's Iceberg tables (default: the data directory's own catalog and `lake/`).
    """
    if full_refresh and window is not None:
        raise ValueError("a full refresh rebuilds every date: give no window")
    refuse_legacy(layout)
    started = time.monotonic()
    timings: dict[str, float] = {}
    paths = WarehousePaths(layout, tables)
    models, accumulators = discover(sql_root)
    builds: list[ModelBuild] = []
    checks: list[CheckOutcome] = []
    published: dict[str, int] | None = None
    rejects = ""
    prepared: list[AccumulatorBuild] = []
    say = log or (lambda _msg: None)
    with exclusive_lock(paths.lock_path), build_reading(paths.lake.catalog_uri):  # no load expires a pin
        mark = time.monotonic()
        pinned = Pinned.now(paths)
        timings["snapshot"] = time.monotonic() - mark
        reset_derived_state(paths, models, accumulators, full_refresh=full_refresh)
        with Session(
            paths, models, pinned, sql_root, window=window, accumulators=accumulators, options=options
        ) as session:
            target = window or _span(session.lake_dates)
            prepared = session.prepared
            mark = time.monotonic()
            if target is not None:
                tallies = reconciled_tallies(layout, target)
                rejects = rejects_note(tallies)
                checks.extend(chunked_lake_checks(session, target, tallies=tallies))
            timings["lake_checks"] = time.monotonic() - mark
            if all(c.passed for c in checks):
                builds, mart_checks = _build_marts(session, models, target, full=full_refresh, say=say)
                checks.extend(mart_checks)
            timings["models"] = sum(b.seconds for b in builds)
            if all(c.passed for c in checks):
                mark = time.monotonic()
                published = publish(session, target)
                timings["catalog"] = time.monotonic() - mark
            ids = published if published is not None else pinned.snapshot_ids()
    if published is not None:
        say("published snapshots: " + ", ".join(f"{name}={sid}" for name, sid in sorted(ids.items())))
    return BuildResult(
        window=target,
        models=tuple(builds),
        checks=tuple(checks),
        catalog=paths.catalog_path if published is not None else None,
        snapshot=None,
        seconds=time.monotonic() - started,
        timings=timings,
        rejects=rejects,
        accumulators=tuple(prepared),
        snapshot_ids=ids,
    )


def reconciled_tallies(layout: Layout, window: DateWindow) -> list[RejectTally]:
    """Every report's reject tallies over `window` (each check uses those of the reports it reads)."""
    return read_tallies(layout, window.start, window.end)


def publish(session: Session, window: DateWindow | None) -> dict[str, int]:
    """Publish the catalog over the session's pinned lake and current marts, then expire what the
    readers' grace period no longer covers; the published snapshot ids.

    The one publish routine of CLI builds and Dagster's warehouse steps.
    """
    return publish_catalog(session, window)


def republish(
    layout: Layout, *, tables: TableLake | None = None, sql_root: Path = SQL_ROOT
) -> dict[str, int]:
    """Publish the catalog again over the lake's current snapshots and the current marts, building
    nothing: after retention purged expired days, the catalog must stop naming their files."""
    paths = WarehousePaths(layout, tables)
    models, accumulators = discover(sql_root)
    with (
        exclusive_lock(paths.lock_path),
        build_reading(paths.lake.catalog_uri),
        Session(paths, models, Pinned.now(paths), sql_root, accumulators=accumulators) as session,
    ):
        return publish(session, None)
