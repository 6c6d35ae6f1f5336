"""One model (or the catalog) at a time, for Dagster: one asset per model, one run-wide set of pins.

Every step of a run reads the same lake snapshots (tagged with the run id in each lake table), so
all marts of a run agree with each other even while loads land new partitions; steps take the
warehouse lock.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from pipeline.dates import DateWindow
from pipeline.layout import Layout
from pipeline.storage.atomic import exclusive_lock
from pipeline.warehouse.build import build_model, publish, reconciled_tallies, run_pins
from pipeline.warehouse.checks import LAKE_CHECK_MODELS, CheckOutcome, lake_checks
from pipeline.warehouse.materialize import ModelBuild
from pipeline.warehouse.models import SQL_ROOT, Model, discover_models
from pipeline.warehouse.options import WarehouseOptions
from pipeline.warehouse.paths import WarehousePaths
from pipeline.warehouse.quoting import quote_identifier
from pipeline.warehouse.session import Session
from pipeline.warehouse.sources import Columns


@dataclass(frozen=True)
class StepResult:
    """What one model's step produced: rows in its window, columns, checks, and any write."""

    model: str
    rows: int
    columns: Columns
    checks: tuple[CheckOutcome, ...]
    build: ModelBuild | None
    path: Path | None


def run_tag(run_id: str) -> str:
    """A snapshot tag for a Dagster run (only characters safe in a file name)."""
    return "run" + re.sub(r"[^A-Za-z0-9]", "", run_id)[:32]


def upstream(models: Sequence[Model], name: str) -> set[str]:
    """`name` and every model it reads, directly or not: all a step's session needs to define."""
    by_name = {m.name: m for m in models}
    found, todo = set(), [name]
    while todo:
        current = todo.pop()
        if current not in found:
            found.add(current)
            todo.extend(by_name[current].depends_on)
    return found


def materialize_model(
    layout: Layout,
    name: str,
    window: DateWindow | None,
    *,
    tag: str,
    sql_root: Path = SQL_ROOT,
    options: WarehouseOptions | None = None,
    full_refresh: bool = False,
) -> StepResult:
    """Build one mart for `window` (every date for a full refresh), or count and check one staging view."""
    paths = WarehousePaths(layout)
    models = discover_models(sql_root)
    model = {m.name: m for m in models}[name]
    needed = upstream(models, name) | set(LAKE_CHECK_MODELS if not model.materialized else ())
    with exclusive_lock(paths.lock_path):
        pinned = run_pins(paths, tag, full_refresh=full_refresh, sql_root=sql_root)
        session_models = [m for m in models if m.name in needed]
        with Session(paths, session_models, pinned, sql_root, window=window, options=options) as session:
            if model.materialized:
                build, check = build_model(session, model, window, full=full_refresh)
                rows = build.rows if build else 0
                path = build.path if build else None
                return StepResult(name, rows, session.columns[name], (check,), build, path)
            where, params = "", {}
            if window is not None:
                where, params = (
                    "WHERE date BETWEEN $start AND $end",
                    {"start": window.start, "end": window.end},
                )
            count = session.con.execute(
                f"SELECT count(*) FROM {quote_identifier(name)} {where}", params
            ).fetchone()
            checks = (
                lake_checks(
                    session.con,
                    window.start,
                    window.end,
                    only_model=name,
                    tallies=reconciled_tallies(layout, window),
                )
                if window
                else []
            )
            return StepResult(
                name, int(count[0]) if count else 0, session.columns[name], tuple(checks), None, None
            )


def publish_warehouse(
    layout: Layout,
    window: DateWindow | None,
    *,
    tag: str,
    sql_root: Path = SQL_ROOT,
    options: WarehouseOptions | None = None,
) -> Path:
    """Publish the catalog over the run's pinned lake and the current marts; returns the run's tag
    (the published snapshot ids are in the catalog's `_warehouse_build`)."""
    paths = WarehousePaths(layout)
    models = discover_models(sql_root)
    with exclusive_lock(paths.lock_path):
        pinned = run_pins(paths, tag, sql_root=sql_root)
        with Session(paths, models, pinned, sql_root, options=options) as session:
            publish(session, window)
        paths.lake.untag(tag)  # the run is over: its pins are now the published tag's
    return Path(tag)
