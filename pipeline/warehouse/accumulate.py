"""Accumulators: a dimension's history folded day by day, so a daily build reads days, not history.

An accumulator (`sql/accumulators/*.sql`) keeps a *base*: its state folded over every source day up
to `through`. A build folds the days after it (the *tail*) on top, in memory, and the dimension
reads that; the tail is the `TAIL_DAYS` newest days, the ones that daily loads re-pull and daily
builds rewrite, so the base stays valid from one build to the next and moves forward a day at a
time as days age out of the tail.

The manifest keeps a fingerprint (the Iceberg data files, each written once under a unique name) of
every source day the base holds, checked at every build, so the state can never lag the data it
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

State lives in `.warehouse/accumulators/<name>/`: Parquet files and `manifest.json` naming them (and
the checkpoints'). Files are written under new names before the manifest (replaced atomically) names
them, and files no manifest names are swept, so a crash leaves the previous state. Everything runs
under the warehouse lock.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
import uuid
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

from pipeline.dates import DateWindow
from pipeline.storage.atomic import atomic_write_bytes
from pipeline.warehouse.materialize import chunks
from pipeline.warehouse.models import PARTS, Accumulator
from pipeline.warehouse.paths import WarehousePaths
from pipeline.warehouse.pinned import FileRef
from pipeline.warehouse.quoting import quote_columns, quote_identifier, quote_literal
from pipeline.warehouse.session import Session
from pipeline.warehouse.sources import empty_select, files_select

FORMAT = 2
MANIFEST = "manifest.json"
RETIRED = "retired-before"  # in the accumulators' root: days before this date were deleted by retention
MAX_SEGMENTS = 32  # an append accumulator's files before they are compacted into one
CHECKPOINT_DAYS = 14  # a checkpoint at the end of every period of this many days (aligned to 0001-01-01)
MAX_CHECKPOINTS = 12  # the newest ones kept: a re-publication up to ~24 weeks old refolds from one


@dataclass(frozen=True)
class AccumulatorBuild:
    """What preparing one accumulator for a build did."""

    name: str
    through: date | None  # the base holds the source days up to here (None: no day)
    folded: int  # days folded into the base by this build
    rebuilt: bool  # the base was started over from nothing (its SQL changed, or no checkpoint helped)
    tail: DateWindow | None  # days folded on top in memory for this build
    seconds: float
    restarted_from: date | None = None  # a changed day sent the base back to this checkpoint


@dataclass(frozen=True)
class _Checkpoint:
    through: date
    files: tuple[str, ...]


@dataclass(frozen=True)
class _Manifest:
    signature: str
    through: date | None
    days: dict[str, str]
    files: tuple[str, ...]
    checkpoints: tuple[_Checkpoint, ...] = ()

    def to_json(self) -> bytes:
        body = {
            "format": FORMAT,
            "signature": self.signature,
            "through": self.through.isoformat() if self.through else None,
            "days": self.days,
            "files": list(self.files),
            "checkpoints": [
                {"through": c.through.isoformat(), "files": list(c.files)} for c in self.checkpoints
            ],
        }
        return json.dumps(body, indent=1, sort_keys=True).encode()

    @property
    def names(self) -> set[str]:
        """Every file this manifest needs kept: the base's and the checkpoints'."""
        return {*self.files, *(f for c in self.checkpoints for f in c.files)}


def state_dir(session: Session, acc: Accumulator) -> Path:
    return session.paths.accumulators_root / acc.name


def _read_manifest(root: Path) -> _Manifest | None:
    try:
        body = json.loads((root / MANIFEST).read_text())
        if body.get("format") != FORMAT:
            return None
        through = date.fromisoformat(body["through"]) if body["through"] else None
        checkpoints = tuple(
            _Checkpoint(date.fromisoformat(c["through"]), tuple(c["files"])) for c in body["checkpoints"]
        )
        return _Manifest(body["signature"], through, dict(body["days"]), tuple(body["files"]), checkpoints)
    except (OSError, ValueError, KeyError, TypeError):
        return None  # missing or unreadable: start over


def retire_before(paths: WarehousePaths, cutoff: date) -> None:
    """Record that days before `cutoff` are deleted by retention, not changed (see the module doc);
    retention calls it before deleting, so a build that misses such a day knows why."""
    known = retired_before(paths)
    if known is None or cutoff > known:
        paths.accumulators_root.mkdir(parents=True, exist_ok=True)
        atomic_write_bytes(
            paths.accumulators_root / RETIRED, cutoff.isoformat().encode(), staging_root=paths.staging_root
        )


def retired_before(paths: WarehousePaths) -> date | None:
    try:
        return date.fromisoformat((paths.accumulators_root / RETIRED).read_text().strip())
    except (OSError, ValueError):
        return None


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
        day: hashlib.sha256("\n".join(sorted(lines)).encode()).hexdigest()[:32]
        for day, lines in entries.items()
    }


def _base_select(session: Session, acc: Accumulator, root: Path, files: tuple[str, ...]) -> str:
    columns = session.accumulator_columns[acc.name]
    return files_select([root / f for f in files], columns)


def _write(session: Session, root: Path, relation: str, prefix: str) -> str:
    """Write `relation` to a new Parquet file in `root`; returns its name."""
    name = f"{prefix}-{uuid.uuid4().hex}.parquet"
    session.con.execute(
        f"COPY (SELECT * FROM {relation}) TO {quote_literal(root / name)} (FORMAT parquet, COMPRESSION zstd)"
    )
    return name


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


def _sweep(root: Path, keep: set[str]) -> None:
    """Remove files no manifest names (older states, leftovers of a crashed build)."""
    for entry in os.scandir(root):
        if entry.name != MANIFEST and entry.name not in keep and entry.is_file():
            Path(entry.path).unlink(missing_ok=True)


def _pieces(window: DateWindow) -> list[DateWindow]:
    """`window` cut after every checkpoint period's last day."""
    out, start = [], window.start
    while start <= window.end:
        period_end = start + timedelta(days=CHECKPOINT_DAYS - 1 - start.toordinal() % CHECKPOINT_DAYS)
        end = min(period_end, window.end)
        out.append(DateWindow(start, end))
        start = end + timedelta(days=1)
    return out


def _fold_files(
    session: Session, acc: Accumulator, root: Path, files: tuple[str, ...], window: DateWindow
) -> tuple[str, ...]:
    """The state files after folding `window` into the state of `files` (written, not yet named)."""
    out = f"_acc_base_{acc.name}"
    _fold(session, acc, _base_select(session, acc, root, files), window, out)
    if acc.merge_sql is not None:
        files = (_write(session, root, out, "base"),)
    else:  # the new keys go to a new file beside the held ones
        if session.con.execute(f"SELECT count(*) FROM {out}").fetchone() != (0,):
            files = (*files, _write(session, root, out, "segment"))
        if len(files) > MAX_SEGMENTS:
            files = (_write(session, root, f"({_base_select(session, acc, root, files)})", "segment"),)
    session.con.execute(f"DROP TABLE IF EXISTS {out}")
    return files


def _advance(
    session: Session, acc: Accumulator, root: Path, state: _Manifest, window: DateWindow, days: dict[str, str]
) -> _Manifest:
    """Fold `window` into the base, a checkpoint period at a time, and record it; returns the new
    manifest (with a checkpoint at the end of every period the window completes)."""
    files, checkpoints = state.files, list(state.checkpoints)
    for piece in _pieces(window):
        files = _fold_files(session, acc, root, files, piece)
        if (piece.end.toordinal() + 1) % CHECKPOINT_DAYS == 0:
            checkpoints.append(_Checkpoint(piece.end, files))
    through = window.end
    manifest = _Manifest(
        state.signature,
        through,
        {d: f for d, f in days.items() if date.fromisoformat(d) <= through},
        files,
        tuple(checkpoints[-MAX_CHECKPOINTS:]),
    )
    atomic_write_bytes(root / MANIFEST, manifest.to_json(), staging_root=session.paths.staging_root)
    _sweep(root, manifest.names)
    return manifest


def _first_change(state: _Manifest, days: dict[str, str], retired: date | None) -> date | None:
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


def _reconcile(
    root: Path, state: _Manifest | None, signature: str, days: dict[str, str], retired: date | None
) -> tuple[_Manifest, bool, date | None]:
    """The base this build starts from: the recorded one, a checkpoint before its first changed day,
    or nothing; with (started over, restarted from)."""
    empty = _Manifest(signature, None, {}, ())
    if state is None or state.signature != signature or not all((root / f).is_file() for f in state.files):
        return empty, True, None
    first = _first_change(state, days, retired)
    if first is None:
        return state, False, None
    usable = [
        c for c in state.checkpoints if c.through < first and all((root / f).is_file() for f in c.files)
    ]
    if not usable:
        return empty, True, None
    point = usable[-1]
    held = {d: f for d, f in days.items() if date.fromisoformat(d) <= point.through}
    kept = tuple(c for c in state.checkpoints if c.through <= point.through)
    return _Manifest(signature, point.through, held, point.files, kept), False, point.through


def prepare(session: Session, acc: Accumulator) -> AccumulatorBuild:
    """Bring `acc`'s base up to date and define its view: the base with the tail folded on top."""
    started = time.monotonic()
    root = state_dir(session, acc)
    root.mkdir(parents=True, exist_ok=True)
    days = fingerprints(session, acc)
    recorded = _read_manifest(root)
    retired = retired_before(session.paths)
    state, rebuilt, restarted = _reconcile(root, recorded, _signature(session, acc), days, retired)
    if state != recorded:  # recorded before anything is folded: a crash leaves a consistent state
        atomic_write_bytes(root / MANIFEST, state.to_json(), staging_root=session.paths.staging_root)
    _sweep(root, state.names)
    folded = 0
    if days:
        first, newest = (date.fromisoformat(d) for d in (min(days), max(days)))
        target = newest - timedelta(days=session.options.tail_days)
        start = state.through + timedelta(days=1) if state.through else first
        if target >= start:
            folded = len(DateWindow(start, target))
            state = _advance(session, acc, root, state, DateWindow(start, target), days)
        tail_start = state.through + timedelta(days=1) if state.through else first
        tail = DateWindow(tail_start, newest) if tail_start <= newest else None
    else:
        tail = None
    _define(session, acc, root, state, tail)
    build = AccumulatorBuild(
        acc.name, state.through, folded, rebuilt and bool(days), tail, time.monotonic() - started, restarted
    )
    session.prepared.append(build)
    return build


def _define(
    session: Session, acc: Accumulator, root: Path, state: _Manifest, tail: DateWindow | None
) -> None:
    """The accumulator's view for this build: base plus tail (in a temp table, never written)."""
    name, out = quote_identifier(acc.name), f"_acc_now_{acc.name}"
    base = _base_select(session, acc, root, state.files)
    if tail is None:
        session.con.execute(f"CREATE OR REPLACE VIEW {name} AS {base}")
        return
    _fold(session, acc, base, tail, out)
    if acc.merge_sql is not None:
        session.con.execute(f"CREATE OR REPLACE VIEW {name} AS SELECT * FROM {out}")
    else:
        session.con.execute(f"CREATE OR REPLACE VIEW {name} AS {base} UNION ALL SELECT * FROM {out}")
