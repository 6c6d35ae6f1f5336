"""Reading and upserting the catalog's Iceberg tables, and the fetch state.

An upsert is one Iceberg commit per table: the rows of the ids just fetched are deleted (the files
holding them rewritten without them) and the new rows added as one file, atomically. Readers, and a
published warehouse pinned to an older snapshot, see the previous rows or the new ones; a crash
leaves the previous snapshot current. A daily table's upsert touches only that day's partition.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta

import pyarrow as pa
from pyiceberg.expressions import AlwaysTrue, And, BooleanExpression, EqualTo, In

from pipeline.enrichment.tables import STATE, STATE_SCHEMA, CatalogTable
from pipeline.storage.tables import Commit, TableLake

Partition = date | str  # a daily table's snapshot date, the state table's kind


def _in_partition(table: CatalogTable, value: Partition | None) -> BooleanExpression:
    if table.partition is None:
        return AlwaysTrue()
    if value is None:
        raise ValueError(f"{table.name} is partitioned by {table.partition.name}: give a value")
    literal = value.isoformat() if isinstance(value, date) else value
    return EqualTo(table.partition.name, literal)


def read_table(lake: TableLake, table: CatalogTable, partition: Partition | None = None) -> pa.Table:
    """The table's current rows (of one partition, if it has them) as `table.schema`: columns it
    lacks become null, the partition column and unknown ones are dropped; empty if never written."""
    iceberg = lake.load(table.name)
    if iceberg is None or iceberg.current_snapshot() is None:
        return table.schema.empty_table()
    return conform(iceberg.scan(row_filter=_in_partition(table, partition)).to_arrow(), table.schema)


def conform(found: pa.Table, schema: pa.Schema) -> pa.Table:
    """`found` as `schema`: columns it lacks become null, others are dropped, types are cast."""
    columns = [
        found.column(f.name).cast(f.type) if f.name in found.column_names else pa.nulls(len(found), f.type)
        for f in schema
    ]
    return pa.Table.from_arrays(columns, schema=schema)


def count_rows(lake: TableLake, table: CatalogTable, partition: Partition | None = None) -> int:
    """Rows in the table's current snapshot (of one partition, if it has them), from the manifests:
    no data file is read; 0 if never written."""
    iceberg = lake.load(table.name)
    if iceberg is None or iceberg.current_snapshot() is None:
        return 0
    tasks = iceberg.scan(row_filter=_in_partition(table, partition)).plan_files()
    return sum(task.file.record_count for task in tasks)


def upsert(
    lake: TableLake, table: CatalogTable, rows: pa.Table, partition: Partition | None = None
) -> Commit:
    """Replace the rows of `rows`' keys (in `partition`, for a partitioned table) and add the new
    ones, in one commit; `rows` has the table's columns (others are ignored)."""
    data = rows.select(table.schema.names).cast(table.schema).sort_by(table.key)
    where = In(table.key, data.column(table.key).to_pylist())
    if table.partition is not None:
        value = pa.scalar(partition, table.partition.type)
        data = data.append_column(table.partition, pa.repeat(value, data.num_rows))
        where = And(_in_partition(table, partition), where)
    by = (table.partition.name,) if table.partition is not None else ()
    return lake.replace_rows(table.name, data, where, partition_by=by)


def state_rows(ids: list[str], found: bool, at: datetime) -> pa.Table:
    """Fetch-state rows: these ids were asked at `at` and were (not) found."""
    columns = {"id": ids, "found": [found] * len(ids), "fetched_at": [at] * len(ids)}
    return pa.table(columns, schema=STATE_SCHEMA)


def read_state(lake: TableLake, kind: str) -> pa.Table:
    """When each id of `kind` was last asked (`STATE_SCHEMA`)."""
    return read_table(lake, STATE, kind)


def due_ids(wanted: list[str], state: pa.Table, now: datetime, ttl: timedelta) -> list[str]:
    """The wanted ids never asked, then those asked longer than `ttl` ago (oldest first)."""
    last = dict(zip(state.column("id").to_pylist(), state.column("fetched_at").to_pylist(), strict=True))
    cutoff = now - ttl
    never = [i for i in wanted if last.get(i) is None]
    stale = sorted((last[i], i) for i in wanted if last.get(i) is not None and last[i] <= cutoff)
    return never + [i for _, i in stale]
