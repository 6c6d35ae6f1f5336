"""Reading and upserting the catalog's Iceberg tables, and the fetch state.

An upsert is one Iceberg commit per table: the table (a daily table: the day's partition; the state:
the kind's) is read at its current snapshot, the rows of the ids just fetched replace theirs, and
the result replaces it as one file, atomically. Readers, and a published warehouse pinned to an
older snapshot, see the previous rows or the new ones; a crash leaves the previous snapshot current.
A commit that finds the table moved on since the read (another machine's pass) reads and merges
again: no pass's rows are lost. (Catalog tables are small: rewriting one is cheaper than deleting
thousands of ids by an Iceberg `In` filter, which pyiceberg binds literal by literal.)
"""

from __future__ import annotations

from datetime import date, datetime, timedelta

import pyarrow as pa
import pyarrow.compute as pc
from pyiceberg.exceptions import CommitFailedException
from pyiceberg.expressions import AlwaysTrue, BooleanExpression, EqualTo

from pipeline.enrichment.tables import STATE, STATE_SCHEMA, CatalogTable
from pipeline.storage.tables import MAX_COMMIT_ATTEMPTS, Commit, TableLake

Partition = date | str  # a daily table's snapshot date, the state table's kind


def _in_partition(table: CatalogTable, value: Partition | None) -> BooleanExpression:
    """The rows of one partition (None: every row)."""
    if table.partition is None or value is None:
        return AlwaysTrue()
    literal = value.isoformat() if isinstance(value, date) else value
    return EqualTo(table.partition.name, literal)


def read_table(
    lake: TableLake, table: CatalogTable, partition: Partition | None = None, *, snapshot_id: int = 0
) -> pa.Table:
    """The table's rows (of one partition, if it has them) at `snapshot_id` (0: the current one) as
    `table.schema`: columns it lacks become null, the partition column and unknown ones are dropped;
    empty if never written."""
    iceberg = lake.load(table.name)
    if iceberg is None or iceberg.current_snapshot() is None:
        return table.schema.empty_table()
    scan = iceberg.scan(row_filter=_in_partition(table, partition), snapshot_id=snapshot_id or None)
    return conform(scan.to_arrow(), table.schema)


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
    """Replace the rows of `rows`' keys (in `partition`, for a partitioned table) and keep the
    others, in one commit; `rows` has the table's columns (others are ignored)."""
    if table.partition is not None and partition is None:
        raise ValueError(f"{table.name} is partitioned by {table.partition.name}: give a value")
    fresh = rows.select(table.schema.names).cast(table.schema)
    where = _in_partition(table, partition)
    by = (table.partition.name,) if table.partition is not None else ()
    for attempt in range(1, MAX_COMMIT_ATTEMPTS + 1):
        iceberg = lake.load(table.name)
        snapshot = iceberg.current_snapshot() if iceberg is not None else None
        based_on = snapshot.snapshot_id if snapshot is not None else 0
        current = read_table(lake, table, partition, snapshot_id=based_on)
        keep = current.filter(
            pc.invert(pc.is_in(current.column(table.key), value_set=fresh.column(table.key)))
        )
        merged = pa.concat_tables([keep, fresh]).sort_by(table.key)
        if table.partition is not None:
            value = pa.repeat(pa.scalar(partition, table.partition.type), merged.num_rows)
            merged = merged.append_column(table.partition, value)
        try:
            return lake.replace_rows(table.name, merged, where, partition_by=by, based_on=based_on)
        except CommitFailedException:
            if attempt == MAX_COMMIT_ATTEMPTS:
                raise
    raise AssertionError("unreachable")


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
