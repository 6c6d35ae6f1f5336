"""Write one mart for a date window: each (licensor, date) partition replaced atomically.

Partitions are cut from one sorted result per chunk, streamed (one scan, however many partitions).
A partition the window no longer produces (the lake day was deleted, or re-published smaller) is
removed, so re-running is idempotent and late data never leaves stale rows behind. Rows are sorted
by the key, so the same input gives byte-identical files.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from pipeline.dates import DateWindow
from pipeline.layout import safe_name
from pipeline.storage.atomic import publish_dir, remove_dir, staging_dir
from pipeline.warehouse.models import Model, ModelError
from pipeline.warehouse.paths import partition_dirs
from pipeline.warehouse.quoting import quote_columns, quote_literal
from pipeline.warehouse.session import Session

CHUNK_DAYS = 14  # bounds the memory of a long backfill; any size gives the same files
STREAM_BATCH_ROWS = 65_536  # rows per Arrow batch read from a chunk's sorted result
PARQUET_OPTIONS = "FORMAT parquet, COMPRESSION zstd"
_OUT = "_mart_out"


@dataclass(frozen=True)
class ModelBuild:
    """What building one mart wrote."""

    model: str
    window: DateWindow | None
    rows: int
    partitions_written: int
    partitions_removed: int
    seconds: float
    path: Path


def chunks(window: DateWindow, days: int = CHUNK_DAYS) -> list[DateWindow]:
    out, start = [], window.start
    while start <= window.end:
        end = min(start + timedelta(days=days - 1), window.end)
        out.append(DateWindow(start, end))
        start = end + timedelta(days=1)
    return out


def _existing(session: Session, model: Model, window: DateWindow) -> set[tuple[str, date]]:
    """Published partitions of `model` inside `window` (cost follows the window, not the history)."""
    root = session.paths.mart_dir(model.name)
    found = set()
    for licensor_dir in root.glob("licensor=*"):
        licensor = licensor_dir.name.split("=", 1)[1]
        found.update((licensor, day) for day in window if (licensor_dir / f"date={day:%Y-%m-%d}").is_dir())
    return found


def _take(batches: Iterator[pa.RecordBatch], held: list[pa.RecordBatch], count: int) -> pa.Table:
    """The next `count` rows of a stream of batches (`held`: rows read but not taken yet)."""
    parts, need = [], count
    while need > 0:
        batch = held.pop(0) if held else next(batches)
        if batch.num_rows > need:
            held.insert(0, batch.slice(need))
            batch = batch.slice(0, need)
        parts.append(batch)
        need -= batch.num_rows
    return pa.Table.from_batches(parts).combine_chunks()  # one chunk: the file never depends on batching


def _write_partitions(session: Session, model: Model, produced: list[tuple[str, date, int]]) -> None:
    """Write each (licensor, date) slice of the chunk's result, sorted by key, and publish it.

    The sorted result is streamed and one partition at a time is held in Python (the chunk's rows
    stay in DuckDB, under its memory limit), so a long backfill's chunk never sits in Arrow whole.
    """
    columns = [c for c, _ in session.columns[model.name] if c not in ("licensor", "date")]
    order = ["licensor", "date"] + [k for k in model.key if k not in ("licensor", "date")]
    relation = session.con.sql(f"SELECT {quote_columns(columns)} FROM {_OUT} ORDER BY {quote_columns(order)}")
    batches, held = iter(relation.to_arrow_reader(STREAM_BATCH_ROWS)), []
    for licensor, day, count in produced:
        rows = _take(batches, held, count)
        final = session.paths.mart_partition(model.name, safe_name(licensor, what="licensor"), day)
        with staging_dir(session.paths.staging_root) as built:
            pq.write_table(rows, built / "part-0.parquet", compression="zstd")
            publish_dir(built, final, staging_root=session.paths.staging_root)


def build_partitioned(session: Session, model: Model, window: DateWindow) -> ModelBuild:
    """Recompute `model` for `window` and replace exactly those partitions."""
    started = time.monotonic()
    rows = written = removed = 0
    for chunk in chunks(window):
        params = {"start": chunk.start, "end": chunk.end}
        session.con.execute(f"CREATE OR REPLACE TEMP TABLE {_OUT} AS SELECT * FROM (\n{model.sql}\n)", params)
        outside = session.con.execute(
            f"SELECT count(*) FROM {_OUT} WHERE date IS NULL OR licensor IS NULL "
            "OR date NOT BETWEEN $start AND $end",
            params,
        ).fetchone()
        if outside and outside[0]:
            raise ModelError(
                f"{model.path}: {outside[0]} row(s) fall outside the window {chunk} or lack a key"
            )
        produced = session.con.execute(
            f"SELECT licensor, date, count(*) FROM {_OUT} GROUP BY licensor, date ORDER BY licensor, date"
        ).fetchall()
        _write_partitions(session, model, produced)
        rows += sum(count for _, _, count in produced)
        written += len(produced)
        stale = _existing(session, model, chunk) - {(lic, day) for lic, day, _ in produced}
        for licensor, day in sorted(stale):
            remove_dir(
                session.paths.mart_partition(model.name, licensor, day),
                staging_root=session.paths.staging_root,
            )
            removed += 1
        session.con.execute(f"DROP TABLE {_OUT}")
    session.built(model)
    return ModelBuild(
        model.name,
        window,
        rows,
        written,
        removed,
        time.monotonic() - started,
        session.paths.mart_dir(model.name),
    )


def build_whole(session: Session, model: Model) -> ModelBuild:
    """Rebuild a non-partitioned model (a dimension) and replace it in one step."""
    started = time.monotonic()
    final = session.paths.mart_dir(model.name)
    with staging_dir(session.paths.staging_root) as built:
        session.con.execute(
            f"COPY (SELECT * FROM (\n{model.sql}\n) ORDER BY {quote_columns(list(model.key))}) "
            f"TO {quote_literal(built / 'part-0.parquet')} ({PARQUET_OPTIONS})"
        )
        publish_dir(built, final, staging_root=session.paths.staging_root)
    session.built(model)
    count = session.con.execute(
        f"SELECT count(*) FROM read_parquet({quote_literal(final / '*.parquet')})"
    ).fetchone()
    return ModelBuild(
        model.name, None, int(count[0]) if count else 0, 1, 0, time.monotonic() - started, final
    )


def mart_dates(session: Session, model: Model) -> set[date]:
    """Dates that have a published partition of `model` (used only by full rebuilds)."""
    return {day for _, day, _ in partition_dirs(session.paths.mart_dir(model.name))}
