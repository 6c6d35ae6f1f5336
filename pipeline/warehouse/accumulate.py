"""Accumulators: a dimension's history folded day by day, so a daily build reads days, not history.

An accumulator (`sql/accumulators/*.sql`) keeps a *base*: its state folded over every source day up
to `through`. A build folds the days after it (the *tail*) on top, in memory, and the dimension
reads that; the tail is the `TAIL_DAYS` newest days, the ones that daily loads re-pull and daily
builds rewrite, so the base stays valid from one build to the next and moves forward a day at a
time as days age out of the tail.

The base records a fingerprint (the Iceberg data files, each written once under a unique name) of
every source day it holds, checked at every build, so the state can never lag the data it
summarizes. When a day inside the base changed (a partition re-landed or a fact rebuilt, a day
deleted, a day added behind it), the base goes back to its newest *checkpoint* before that day (the
state as of the end of each `CHECKPOINT_DAYS` period, the last `MAX_CHECKPOINTS` kept) and refolds
only the days after it; only a change older than every checkpoint, or of the SQL the state depends
on, starts over from nothing, and that refold reads the history in date chunks (bounded memory,
however long the history).

Days deleted by retention are *retired*, not changed: `retire_before` (called by retention before
it deletes anything) records the cutoff, and a base keeps what it folded from days before it, as
the facts keep their partitions of those days (retention removes personal data from the lake; marts
and this state are aggregates without it). So a daily build after retention folds one day, as any
other, and the dimensions keep describing the facts that remain; a full rebuild, which can only read
the lake, forgets retired days, facts included.

Folding is associative (a merge accumulator's second statement combines any split of the days into
the same state; an append accumulator only adds keys it does not hold yet), so a dimension built day
by day, in windows, from a checkpoint, or in one full refresh is the same.

The base is the Iceberg table `accumulators.<name>`: each fold of a period is one commit, whose
snapshot summary records what the state covers (through which day, the source days' fingerprints,
the SQL signature, the retired cutoff). A checkpoint is the tag `checkpoint-<day>` on the snapshot
that ended a period; going back to it is reading the table at that snapshot. Expiry keeps tagged
snapshots; a crash leaves the previous commit current. Everything runs under the warehouse lock.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import time
from dataclasses import dataclass
from datetime import date, timedelta
from functools import partial

from pyiceberg.exceptions import NoSuchNamespaceError
from pyiceberg.table import Table
from pyiceberg.table.snapshots import Snapshot

from pipeline.dates import DateWindow
from pipeline.storage.tables import WHOLE, TableLake
from pipeline.warehouse.materialize import chunks, write_whole
from pipeline.warehouse.models import PARTS, Accumulator
from pipeline.warehouse.paths import ACCUMULATORS, WarehousePaths
from pipeline.warehouse.pinned import FileRef, file_ref
from pipeline.warehouse.quoting import quote_columns, quote_identifier
from pipeline.warehouse.session import Session
from pipeline.warehouse.sources import empty_select, files_select

RETIRED = "retired-before"  # a property of the namespace: days before this date were deleted by retention
# What a state's snapshot summary records (see `_advance`).
SIGNATURE, THROUGH, DAYS, RETIRED_KEY = (
    f"accumulator.{k}" for k in ("signature", "through", "days", RETIRED)
)
CHECKPOINT = "checkpoint-"  # tag prefix; the tag names the last day the tagged state holds
MAX_SEGMENTS = 32  # an append accumulator's files before they are compacted into one
CHECKPOINT_DAYS = 14  # a checkpoint at the end of every period of this many days (aligned to 0001-01-01)
MAX_CHECKPOINTS = 12  # the newest ones kept: a re-publication up to ~24 weeks old refolds from one


@dataclass(frozen=True)
class AccumulatorBuild:
    """What preparing one accumulator for a build did."""

    name: str
    through: date | None  # the base holds the source days up to here (None: no day)
    folded: int  # days folded into the base by this build
    rebuilt: bool  # the base was refolded from nothing (new, its SQL changed, or no checkpoint helped)
    tail: DateWindow | None  # days folded on top in memory for this build
    seconds: float
    restarted_from: date | None = None  # a changed day sent the base back to this checkpoint


@dataclass(frozen=True)
class _State:
    through: date | None
    days: dict[str, str]  # source day (ISO) -> fingerprint, for every day folded
    files: tuple[str, ...]  # the table's data files at this state


_EMPTY = _State(None, {}, ())


def retire_before(paths: WarehousePaths, cutoff: date) -> None:
    """Record that days before `cutoff` are deleted by retention, not changed (see the module doc);
    retention calls it before deleting, so a build that misses such a day knows why."""
    known = retired_before(paths)
    if known is None or cutoff > known:
        with contextlib.suppress(NoSuchNamespaceError):  # no state yet: nothing holds such a day
            paths.accumulators.catalog.update_namespace_properties(
                ACCUMULATORS, updates={RETIRED: f"{cutoff}"}
            )


def retired_before(paths: WarehousePaths) -> date | None:
    try:
        value = paths.accumulators.catalog.load_namespace_properties(ACCUMULATORS).get(RETIRED)
    except NoSuchNamespaceError:
        return None
    return date.fromisoformat(value) if value else None


def _sources(session: Session, acc: Accumulator) -> list[tuple[str, list[tuple[str, date, list[FileRef]]]]]:
    """The date-partitioned inputs behind `acc`: lake tables (through staging views) and facts."""
    lake: set[str] = set()
    marts: set[str] = set()
    todo = list(acc.depends_on)
    while todo:
        model = session.models[todo.pop()]
        if model.layer == "staging":
            lake.update(model.lake_tables)
            todo.extend(model.depends_on)
        else:
            marts.add(model.name)
    found = [(f"lake/{t}", session.lake_partitions[t]) for t in sorted(lake) if t in session.lake_partitions]
    found += [
        (f"marts/{m}", [(lic, day, files) for (lic, day), files in session.pinned.mart_files(m).items()])
        for m in sorted(marts)
    ]
    return found


def _signature(session: Session, acc: Accumulator) -> str:
    """Changes when the state's meaning does: the accumulator's SQL, its columns, its staging inputs."""
    parts = [
        acc.fold,
        ",".join(acc.key),
        acc.days_sql,
        acc.merge_sql or "",
        repr(session.accumulator_columns[acc.name]),
    ]
    views, todo = {}, list(acc.depends_on)
    while todo:
        model = session.models[todo.pop()]
        if model.layer == "staging" and model.name not in views:  # facts' files carry their own changes
            views[model.name] = model.sql
            todo.extend(model.depends_on)
    parts += [f"{name}:{sql}" for name, sql in sorted(views.items())]
    return hashlib.sha256("\x00".join(parts).encode()).hexdigest()


def fingerprints(session: Session, acc: Accumulator) -> dict[str, str]:
    """Per source day (ISO date), a digest of the names of every source data file of that day
    (a rewritten partition is a new file under a new name)."""
    entries: dict[str, list[str]] = {}
    for source, partitions in _sources(session, acc):
        for licensor, day, files in partitions:
            for name in files:
                entries.setdefault(day.isoformat(), []).append(f"{source}/{licensor}/{name}")
    return {
        day: hashlib.sha256("\n".join(sorted(lines)).encode()).hexdigest()[:16]
        for day, lines in entries.items()
    }


def _fold(session: Session, acc: Accumulator, base: str, window: DateWindow, out: str) -> None:
    """Temp table `out`: a merge accumulator's state `base` after `window`; for an append one, the
    rows of `window` whose keys are neither in `base` (a relation of held rows) nor earlier in it."""
    con, key = session.con, quote_columns(list(acc.key))
    columns = session.accumulator_columns[acc.name]
    if acc.merge_sql is not None:
        con.execute(f"CREATE OR REPLACE TEMP TABLE {out} AS SELECT * FROM ({base})")
    else:
        con.execute(f"CREATE OR REPLACE TEMP TABLE {out} AS {empty_select(columns)}")
    for chunk in chunks(window):  # bounded memory however many days; same state for any split
        session.cover(chunk)
        params = {"start": chunk.start, "end": chunk.end}
        con.execute(f"CREATE OR REPLACE TEMP TABLE _acc_days AS SELECT * FROM (\n{acc.days_sql}\n)", params)
        if acc.merge_sql is not None:
            con.execute(
                f"CREATE OR REPLACE TEMP VIEW {PARTS} AS "
                f"SELECT * FROM {out} UNION ALL BY NAME SELECT * FROM _acc_days"
            )
            con.execute(f"CREATE OR REPLACE TEMP TABLE _acc_next AS SELECT * FROM (\n{acc.merge_sql}\n)")
            con.execute(f"DROP TABLE {out}")
            con.execute(f"ALTER TABLE _acc_next RENAME TO {out}")
        else:
            held = f"SELECT {key} FROM ({base}) UNION ALL SELECT {key} FROM {out}"
            con.execute(f"INSERT INTO {out} SELECT * FROM _acc_days ANTI JOIN ({held}) USING ({key})")
        con.execute("DROP TABLE _acc_days")


def _first_change(state: _State, days: dict[str, str], retired: date | None) -> date | None:
    """The oldest day the base holds that is not as it was folded (changed, added or deleted, but
    not retired), or None."""
    through = state.through
    now = {d: f for d, f in days.items() if through and date.fromisoformat(d) <= through}
    changed = [
        date.fromisoformat(d)
        for d in state.days.keys() | now.keys()
        if state.days.get(d) != now.get(d)
        and not (d not in now and retired is not None and date.fromisoformat(d) < retired)
    ]
    return min(changed, default=None)


def _state(tables: TableLake, acc: Accumulator, snapshot: Snapshot) -> _State:
    """The state a snapshot of the accumulator's table holds, as its summary records it."""
    summary, files = snapshot.summary, tables.files(acc.name, snapshot.snapshot_id).get(WHOLE, [])
    return _State(date.fromisoformat(summary[THROUGH]), json.loads(summary[DAYS]), tuple(files))


def _checkpoints(table: Table) -> dict[date, int]:
    """The checkpoints' last days and their snapshots."""
    refs = table.metadata.refs.items()
    return {
        date.fromisoformat(n.removeprefix(CHECKPOINT)): r.snapshot_id
        for n, r in refs
        if n.startswith(CHECKPOINT)
    }


def _retag(table: Table, drop: list[date], add: tuple[date, int] | None = None) -> None:
    """Remove the checkpoints of `drop` and tag `add` in one commit (none when there is nothing)."""
    with table.manage_snapshots() as manage:
        for day in drop:
            manage.remove_tag(f"{CHECKPOINT}{day}")
        if add is not None:
            manage.create_tag(add[1], f"{CHECKPOINT}{add[0]}")


def _reconcile(
    session: Session, acc: Accumulator, signature: str, days: dict[str, str], retired: date | None
) -> tuple[_State, bool, date | None]:
    """The base this build starts from: the current snapshot's state, a checkpoint before its first
    changed day, or nothing; with (started over, restarted from)."""
    tables = session.paths.accumulators
    table = tables.load(acc.name)
    current = table.current_snapshot() if table is not None else None
    if table is None or current is None or current.summary.get(SIGNATURE) != signature:
        tables.drop(acc.name)  # another SQL or columns, or no state: start over, checkpoints too
        return _EMPTY, True, None
    state = _state(tables, acc, current)
    first = _first_change(state, days, retired)
    if first is None:
        return state, False, None
    points = _checkpoints(table)
    if not any(day < first for day in points):
        tables.drop(acc.name)
        return _EMPTY, True, None
    _retag(table, [day for day in points if day >= first])  # they hold the changed day as it was
    point = max(day for day in points if day < first)
    return _state(tables, acc, table.snapshot_by_id(points[point])), False, point  # type: ignore[arg-type]


def _pieces(window: DateWindow) -> list[DateWindow]:
    """`window` cut after the last day of each of the newest `MAX_CHECKPOINTS` checkpoint periods
    in it (older checkpoints would be dropped at once: the days before them fold in one piece)."""
    last = window.end - timedelta(days=(window.end.toordinal() + 1) % CHECKPOINT_DAYS)
    ends = {last - timedelta(days=CHECKPOINT_DAYS * i) for i in range(MAX_CHECKPOINTS)}
    out, start = [], window.start
    for end in sorted({e for e in ends if e >= window.start} | {window.end}):
        out.append(DateWindow(start, end))
        start = end + timedelta(days=1)
    return out


def _select(session: Session, acc: Accumulator, files: tuple[str, ...]) -> str:
    return files_select([file_ref(f) for f in files], session.accumulator_columns[acc.name])


def _commit_fold(
    session: Session, acc: Accumulator, state: _State, piece: DateWindow, summary: dict[str, str]
) -> tuple[tuple[str, ...], int]:
    """Fold `piece` into `state` and commit the result as the table's whole content (one commit,
    `summary` in its snapshot); the state's files and the snapshot id."""
    tables, out = session.paths.accumulators, f"_acc_base_{acc.name}"
    write = partial(
        write_whole, session, tables, table_for=partial(tables.table_for, acc.name, partitioned=False)
    )
    _fold(session, acc, _select(session, acc, state.files), piece, out)
    table = tables.load(acc.name)
    if acc.merge_sql is not None:
        path, schema, _ = write(f"SELECT * FROM {out}")
        files = (path,)
    elif table is None or session.con.execute(f"SELECT count(*) FROM {out}").fetchone() != (0,):
        path, schema, _ = write(f"SELECT * FROM {out}")
        files = (*state.files, path)  # the new keys in a file beside the held ones
    else:
        files, schema = state.files, table.schema().as_arrow()
    if len(files) > MAX_SEGMENTS:
        path, schema, _ = write(_select(session, acc, files))
        files = (path,)
    session.con.execute(f"DROP TABLE {out}")
    commit = session.paths.accumulators.replace_files(
        acc.name, list(files), schema, partitioned=False, properties=summary
    )
    return files, commit.snapshot_id


def _advance(
    session: Session, acc: Accumulator, state: _State, window: DateWindow, days: dict[str, str],
    summary: dict[str, str],
) -> _State:  # fmt: skip
    """Fold `window` into the base, a commit per piece, tagging a checkpoint at the end of every
    period it completes; the state after it."""
    tables = session.paths.accumulators
    for piece in _pieces(window):
        held = {d: f for d, f in days.items() if d <= piece.end.isoformat()}
        recorded = {**summary, THROUGH: f"{piece.end}", DAYS: json.dumps(held, separators=(",", ":"))}
        files, snapshot_id = _commit_fold(session, acc, state, piece, recorded)
        state = _State(piece.end, held, files)
        if (piece.end.toordinal() + 1) % CHECKPOINT_DAYS == 0:
            table = tables.load(acc.name)
            assert table is not None
            points = sorted(_checkpoints(table))  # the oldest go: `MAX_CHECKPOINTS` with the new one
            _retag(table, points[: max(0, len(points) + 1 - MAX_CHECKPOINTS)], (piece.end, snapshot_id))
    return state


def prepare(session: Session, acc: Accumulator) -> AccumulatorBuild:
    """Bring `acc`'s base up to date and define its view: the base with the tail folded on top."""
    started = time.monotonic()
    days = fingerprints(session, acc)
    retired = retired_before(session.paths)
    signature = _signature(session, acc)
    state, rebuilt, restarted = _reconcile(session, acc, signature, days, retired)
    folded, tail = 0, None
    if days:
        first, newest = (date.fromisoformat(d) for d in (min(days), max(days)))
        target = newest - timedelta(days=session.options.tail_days)
        start = state.through + timedelta(days=1) if state.through else first
        if target >= start:
            folded = len(DateWindow(start, target))
            summary = {SIGNATURE: signature} | ({RETIRED_KEY: f"{retired}"} if retired else {})
            state = _advance(session, acc, state, DateWindow(start, target), days, summary)
        tail_start = state.through + timedelta(days=1) if state.through else first
        tail = DateWindow(tail_start, newest) if tail_start <= newest else None
    _define(session, acc, state, tail)
    build = AccumulatorBuild(
        acc.name, state.through, folded, rebuilt and folded > 0, tail, time.monotonic() - started, restarted
    )
    session.prepared.append(build)
    return build


def _define(session: Session, acc: Accumulator, state: _State, tail: DateWindow | None) -> None:
    """The accumulator's view for this build: base plus tail (in a temp table, never written)."""
    name, out = quote_identifier(acc.name), f"_acc_now_{acc.name}"
    base = _select(session, acc, state.files)
    if tail is None:
        session.con.execute(f"CREATE OR REPLACE VIEW {name} AS {base}")
        return
    _fold(session, acc, base, tail, out)
    if acc.merge_sql is not None:
        session.con.execute(f"CREATE OR REPLACE VIEW {name} AS SELECT * FROM {out}")
    else:
        session.con.execute(f"CREATE OR REPLACE VIEW {name} AS {base} UNION ALL SELECT * FROM {out}")
