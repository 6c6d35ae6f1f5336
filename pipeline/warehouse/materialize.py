"""Write one mart for a date window: every partition of the window replaced in ONE Iceberg commit.

Partitions are cut from one sorted result per date chunk, streamed (one scan, however many
partitions), each written as one data file; when every chunk is written, one commit deletes the
window's partitions and adds the new files, so a build of N days commits each mart once. A
partition the window no longer produces (the lake day was deleted, or re-published smaller) is
gone with that commit, so re-running is idempotent and late data never leaves stale rows behind.
Rows are sorted by the key, so the same input gives the same rows in the same order.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
from pyiceberg.expressions import AlwaysTrue, And, GreaterThanOrEqual, LessThanOrEqual
from pyiceberg.table import Table

from pipeline.dates import DateWindow
from pipeline.storage.partition_columns import local_path
from pipeline.storage.tables import TableLake
from pipeline.warehouse.models import Model, ModelError
from pipeline.warehouse.quoting import quote_columns
from pipeline.warehouse.session import Session

CHUNK_DAYS = 14  # bounds the memory of a long backfill; any size gives the same rows
STREAM_BATCH_ROWS = 65_536  # rows per Arrow batch read from a chunk's sorted result
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
    path: Path | None  # the mart table's location (None on object storage)
    snapshot_id: int = 0  # the mart's snapshot after its one commit


def chunks(window: DateWindow, days: int = CHUNK_DAYS) -> list[DateWindow]:
    out, start = [], window.start
    while start <= window.end:
        end = min(start + timedelta(days=days - 1), window.end)
        out.append(DateWindow(start, end))
        start = end + timedelta(days=1)
    return out


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
    return pa.Table.from_batches(parts).combine_chunks()


def _nullable(schema: pa.Schema) -> pa.Schema:
    return pa.schema([f.with_nullable(True) for f in schema])


def _mart_table(session: Session, model: Model, schema: pa.Schema) -> Table:
    """The mart's Iceberg table with the model's columns now (another version's table is dropped:
    its files stay readable for earlier catalogs until the orphan sweep after the grace period)."""
    marts: TableLake = session.paths.marts
    existing = marts.load(model.name)
    if existing is not None and existing.schema().as_arrow().names != schema.names:
        marts.drop(model.name)
    return marts.table_for(model.name, schema, partitioned=model.partitioned)


def _write_file(table: Table, marts: TableLake, rows: pa.Table | Iterator[pa.Table], schema: pa.Schema,
                licensor: str | None = None, day: date | None = None) -> str:  # fmt: skip
    """`rows` as one new zstd data file of `table`; its URI."""
    path = marts.data_path(table, licensor, day)
    with (
        table.io.new_output(path).create(overwrite=True) as out,
        pq.ParquetWriter(out, schema, compression="zstd") as writer,
    ):
        for part in [rows] if isinstance(rows, pa.Table) else rows:
            writer.write_table(part.cast(schema))
    return path


def build_partitioned(session: Session, model: Model, window: DateWindow) -> ModelBuild:
    """Recompute `model` for `window` and replace exactly those partitions, in one commit."""
    started = time.monotonic()
    marts = session.paths.marts
    before = {part for part in session.pinned.mart_files(model.name) if window.start <= part[1] <= window.end}
    rows, files, produced_all = 0, [], set()
    schema: pa.Schema | None = None
    table: Table | None = None
    order = ["licensor", "date"] + [k for k in model.key if k not in ("licensor", "date")]
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
        session.con.complete()  # a streamed result needs no other result left open on the connection
        reader = session.con.sql(f"SELECT * FROM {_OUT} ORDER BY {quote_columns(order)}").to_arrow_reader(
            STREAM_BATCH_ROWS
        )
        if schema is None:
            schema = _nullable(reader.schema)
            table = _mart_table(session, model, schema)
        assert table is not None
        batches, held = iter(reader), []
        for licensor, day, count in produced:
            part = _take(batches, held, count)
            files.append(_write_file(table, marts, part, schema, licensor, day))
            produced_all.add((licensor, day))
        del batches
        reader.close()
        rows += sum(count for _, _, count in produced)
        session.con.execute(f"DROP TABLE {_OUT}")
    assert schema is not None
    where = And(
        GreaterThanOrEqual("date", window.start.isoformat()), LessThanOrEqual("date", window.end.isoformat())
    )
    commit = marts.replace_files(model.name, files, schema, where=where, rows=rows)
    session.pinned.wrote(model.name, commit.snapshot_id)
    session.built(model)
    return ModelBuild(
        model.name,
        window,
        rows,
        len(produced_all),
        len(before - produced_all),
        time.monotonic() - started,
        local_path(table.location()) if table is not None else None,
        commit.snapshot_id,
    )


def write_whole(
    session: Session, tables: TableLake, select: str, table_for: Callable[[pa.Schema], Table]
) -> tuple[str, pa.Schema, int]:
    """The rows of `select` streamed (one batch in memory) into one new data file of the table
    `table_for(schema)` gives; its URI, schema and row count (the caller commits it)."""
    session.con.complete()  # a streamed result needs no other result left open on the connection
    reader = session.con.sql(select).to_arrow_reader(STREAM_BATCH_ROWS)
    schema = _nullable(reader.schema)
    counted = [0]

    def parts() -> Iterator[pa.Table]:
        for batch in reader:
            counted[0] += batch.num_rows
            yield pa.Table.from_batches([batch])

    path = _write_file(table_for(schema), tables, parts(), schema)
    reader.close()
    return path, schema, counted[0]


def build_whole(session: Session, model: Model) -> ModelBuild:
    """Rebuild a non-partitioned model (a dimension) and replace it in one commit."""
    started = time.monotonic()
    marts = session.paths.marts
    select = f"SELECT * FROM (\n{model.sql}\n) ORDER BY {quote_columns(list(model.key))}"
    path, schema, rows = write_whole(session, marts, select, lambda s: _mart_table(session, model, s))
    commit = marts.replace_files(model.name, [path], schema, where=AlwaysTrue(), rows=rows, partitioned=False)
    session.pinned.wrote(model.name, commit.snapshot_id)
    session.built(model)
    return ModelBuild(
        model.name, None, rows, 1, 0, time.monotonic() - started,
        local_path(marts.table_location(model.name)), commit.snapshot_id,
    )  # fmt: skip


def mart_dates(session: Session, model: Model) -> set[date]:
    """Dates that have a published partition of `model` (used only by full rebuilds)."""
    return {day for _, day in session.pinned.mart_files(model.name)}
