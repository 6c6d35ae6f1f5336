"""The lake as Apache Iceberg tables: one commit replaces one licensor-day partition, atomically.

Why Iceberg: an object store has no rename, so the local lake's directory swaps and flocks cannot
work across machines. Iceberg's commit is a compare-and-swap of the table's metadata pointer in a
catalog (here pyiceberg's SQL catalog: a SQLite file locally, PostgreSQL at scale); readers always
see one snapshot; writers of different partitions that race simply retry on the new metadata, and
old snapshots' files go through the format's own expiry. Spark, Trino, Snowflake, BigQuery and
DuckDB read these tables as they are (docs/scale.md).

Every table is partitioned by identity(licensor), identity(date), the Hive keys of the local lake,
so a partition here is the same unit as a `licensor=/date=` directory there.
"""

from __future__ import annotations

import contextlib
import json
import random
import time
import warnings
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any

import pyarrow as pa
from pyiceberg.catalog import Catalog
from pyiceberg.catalog.sql import SqlCatalog
from pyiceberg.exceptions import (
    CommitFailedException,
    NamespaceAlreadyExistsError,
    NoSuchNamespaceError,
    TableAlreadyExistsError,
)
from pyiceberg.expressions import And, EqualTo, LessThan
from pyiceberg.partitioning import PartitionField, PartitionSpec
from pyiceberg.schema import assign_fresh_schema_ids
from pyiceberg.table import Table
from pyiceberg.transforms import IdentityTransform
from sqlalchemy.exc import IntegrityError, OperationalError, ProgrammingError

from pipeline.layout import safe_name
from pipeline.storage.object_store import ObjectStoreSettings, StoreUrl, ensure_bucket, fileio_properties

NAMESPACE = "lake"
CATALOG_NAME = "spotify_bulk"
PARTITION_COLUMNS: tuple[tuple[str, pa.DataType], ...] = (("licensor", pa.string()), ("date", pa.date32()))
MAX_COMMIT_ATTEMPTS = 20
CATALOG_INIT_ATTEMPTS = 3
FILES_MARKER = ".iceberg-files.json"  # in a local partition: the table's data files it holds


class TableStoreError(RuntimeError):
    """The catalog or the object store could not answer: never read as "no tables" (an empty
    answer would make a reader drop everything it holds)."""


@dataclass(frozen=True)
class Commit:
    """One partition replaced: the snapshot it made and what it cost."""

    table: str
    licensor: str
    day: date
    rows: int
    snapshot_id: int
    seconds: float
    attempts: int
    files: tuple[str, ...] = ()  # the partition's data files in the table after the commit


def open_catalog(uri: str, location: str, store: ObjectStoreSettings) -> Catalog:
    """pyiceberg's SQL catalog at `uri` (SQLAlchemy URL), its tables under `location`."""
    where = StoreUrl.parse(location)
    warehouse = location if where.is_s3 else f"file://{where.prefix}"
    props: dict[str, str] = {"uri": uri, "warehouse": warehouse, **fileio_properties(store)}
    if uri.startswith("sqlite"):
        props["init_catalog_tables"] = "true"
    for attempt in range(1, CATALOG_INIT_ATTEMPTS):
        try:
            return SqlCatalog(CATALOG_NAME, **props)
        except (IntegrityError, OperationalError, ProgrammingError):
            # Workers starting at once on a new catalog each create its tables; one wins, the others
            # fail: PostgreSQL on its own catalog ("pg_type_typname_nsp_index", "already exists"),
            # SQLite with "table iceberg_tables already exists". Opened again, the tables are there.
            time.sleep(0.05 * attempt * random.random())
    return SqlCatalog(CATALOG_NAME, **props)  # the last attempt: its error is the caller's


def with_partition_columns(data: pa.Table, licensor: str, day: date) -> pa.Table:
    """`data` with the partition's licensor and date as columns (the Hive keys, now in the files)."""
    for name, kind in PARTITION_COLUMNS:
        value = licensor if name == "licensor" else day
        if name in data.column_names:
            data = data.drop_columns([name])
        data = data.append_column(pa.field(name, kind), pa.repeat(pa.scalar(value, kind), data.num_rows))
    return _nullable(data)


def _nullable(data: pa.Table) -> pa.Table:
    """Every field optional, as the tables declare them: so any landed day fits the table's schema."""
    schema = pa.schema([f.with_nullable(True) for f in data.schema], metadata=data.schema.metadata)
    return data.cast(schema)


class TableLake:
    """The Iceberg tables of one lake: create on first write, replace partitions, read snapshots."""

    def __init__(self, catalog: Catalog, location: str, *, namespace: str = NAMESPACE) -> None:
        self.catalog = catalog
        self.location = location
        self.namespace = namespace

    @classmethod
    def open(cls, catalog_uri: str, location: str, store: ObjectStoreSettings) -> TableLake:
        """The lake at `location` (its bucket created if missing), committed through `catalog_uri`."""
        ensure_bucket(location, store)
        return cls(open_catalog(catalog_uri, location, store), location)

    def identifier(self, table: str) -> tuple[str, str]:
        return (self.namespace, safe_name(table, what="table"))

    def table_names(self) -> list[str]:
        """The lake's tables; none only when the namespace does not exist yet (nothing landed).

        Any other failure (catalog file unreadable, database down, store unreachable) raises
        `TableStoreError` with its cause: callers that delete what the catalog no longer lists
        must never mistake an outage for an empty lake.
        """
        try:
            return sorted(ident[-1] for ident in self.catalog.list_tables(self.namespace))
        except NoSuchNamespaceError:
            return []
        except Exception as exc:
            raise TableStoreError(
                f"cannot list the tables of the Iceberg catalog for {self.location}: {exc}; "
                "check the catalog (SPOTIFY_BULK_CATALOG_URI) and the object store, then re-run"
            ) from exc

    def load(self, table: str) -> Table | None:
        ident = self.identifier(table)
        return self.catalog.load_table(ident) if self.catalog.table_exists(ident) else None

    def _table_for(self, table: str, schema: pa.Schema) -> Table:
        """The table, created on first write (a racing creator's table is used as it is)."""
        existing = self.load(table)
        if existing is not None:
            return existing
        # A concurrent writer may create it between pyiceberg's check and insert: then the insert
        # fails on the catalog's unique key instead of NamespaceAlreadyExistsError.
        with contextlib.suppress(NamespaceAlreadyExistsError, IntegrityError):
            self.catalog.create_namespace(self.namespace)
        iceberg_schema = assign_fresh_schema_ids(self.catalog._convert_schema_if_needed(schema))
        spec = PartitionSpec(
            *(
                PartitionField(
                    source_id=iceberg_schema.find_field(name).field_id,
                    field_id=1000 + n,
                    transform=IdentityTransform(),
                    name=name,
                )
                for n, (name, _) in enumerate(PARTITION_COLUMNS)
            )
        )
        try:  # schema and spec in one commit: no moment at which the table is unpartitioned
            return self.catalog.create_table(
                self.identifier(table), schema=iceberg_schema, partition_spec=spec
            )
        except TableAlreadyExistsError:
            return self.catalog.load_table(self.identifier(table))

    def replace_partition(self, table: str, licensor: str, day: date, data: pa.Table) -> Commit:
        """Replace `table`'s licensor/day partition with `data` in one atomic commit.

        A commit that loses a race with another writer (of another partition) is retried on the
        fresh metadata; readers see the old partition or the new one, never a mix or an absence.
        """
        started = time.monotonic()
        rows = with_partition_columns(data, licensor, day)
        where = And(EqualTo("licensor", licensor), EqualTo("date", day.isoformat()))
        for attempt in range(1, MAX_COMMIT_ATTEMPTS + 1):
            iceberg = self._table_for(table, rows.schema)
            try:
                with iceberg.transaction() as tx:
                    if not _same_columns(iceberg, rows.schema):
                        with tx.update_schema() as evolve:
                            evolve.union_by_name(rows.schema)
                    with warnings.catch_warnings():  # a first write deletes nothing: expected
                        warnings.filterwarnings("ignore", "Delete operation did not match any records")
                        tx.overwrite(rows, overwrite_filter=where)
            except CommitFailedException:
                if attempt == MAX_COMMIT_ATTEMPTS:
                    raise
                time.sleep(random.uniform(0.01, 0.05) * attempt)
                continue
            fresh = self.catalog.load_table(self.identifier(table))
            snapshot, seconds = fresh.current_snapshot(), time.monotonic() - started
            files = sorted(task.file.file_path for task in fresh.scan(row_filter=where).plan_files())
            return Commit(
                table=table,
                licensor=licensor,
                day=day,
                rows=data.num_rows,
                snapshot_id=snapshot.snapshot_id if snapshot else 0,
                seconds=seconds,
                attempts=attempt,
                files=tuple(files),
            )
        raise AssertionError("unreachable")

    def snapshot_ids(self) -> dict[str, int]:
        """Each table's current snapshot: what a warehouse build pins."""
        pinned = {}
        for name in self.table_names():
            table = self.load(name)
            snapshot = table.current_snapshot() if table is not None else None
            if snapshot is not None:
                pinned[name] = snapshot.snapshot_id
        return pinned

    def read(
        self,
        table: str,
        *,
        licensor: str | None = None,
        day: date | None = None,
        snapshot_id: int | None = None,
    ) -> pa.Table:
        """Rows of `table` (one partition when licensor and day are given) as of `snapshot_id`."""
        iceberg = self.load(table)
        if iceberg is None:
            raise KeyError(f"no lake table {table!r}")
        scan_args: dict[str, Any] = {"snapshot_id": snapshot_id}
        if licensor is not None and day is not None:
            scan_args["row_filter"] = And(EqualTo("licensor", licensor), EqualTo("date", day.isoformat()))
        return iceberg.scan(**scan_args).to_arrow()

    def partitions(self, table: str, *, snapshot_id: int | None = None) -> dict[tuple[str, date], list[str]]:
        """(licensor, date) -> the data files of that partition in the snapshot."""
        iceberg = self.load(table)
        if iceberg is None:
            return {}
        found: dict[tuple[str, date], list[str]] = {}
        for task in iceberg.scan(snapshot_id=snapshot_id).plan_files():
            record = task.file.partition
            key = (str(record[0]), _as_date(record[1]))
            found.setdefault(key, []).append(task.file.file_path)
        return {key: sorted(files) for key, files in sorted(found.items())}

    def expire(self, older_than: datetime) -> int:
        """Expire snapshots older than `older_than` (never a table's current one) and delete the data
        files only they referenced; how many snapshots went. pyiceberg's expiry drops the snapshots
        from the metadata; the files are removed here, after that commit."""
        expired = 0
        for name in self.table_names():
            table = self.load(name)
            if table is None:
                continue
            current = table.current_snapshot()
            old = [
                s.snapshot_id
                for s in table.snapshots()
                if s.timestamp_ms < older_than.timestamp() * 1000
                and (current is None or s.snapshot_id != current.snapshot_id)
            ]
            if not old:
                continue
            kept = [s.snapshot_id for s in table.snapshots() if s.snapshot_id not in old]
            doomed = _data_files(table, old) - _data_files(table, kept)
            table.maintenance.expire_snapshots().by_ids(old).commit()
            for path in sorted(doomed):
                table.io.delete(path)
            expired += len(old)
        return expired

    def delete_before(self, cutoff: date) -> int:
        """Delete every partition dated before `cutoff` (retention), one commit per table; how many
        tables changed. Their files go physically at the next `expire`."""
        changed = 0
        for name in self.table_names():
            table = self.load(name)
            if table is None or not self.partitions(name):
                continue
            if any(day < cutoff for _, day in self.partitions(name)):
                table.delete(LessThan("date", cutoff.isoformat()))
                changed += 1
        return changed

    def __iter__(self) -> Iterator[str]:
        return iter(self.table_names())


def _data_files(table: Table, snapshot_ids: list[int]) -> set[str]:
    """The data files live in any of the snapshots."""
    return {task.file.file_path for sid in snapshot_ids for task in table.scan(snapshot_id=sid).plan_files()}


def _same_columns(table: Table, schema: pa.Schema) -> bool:
    return {f.name for f in table.schema().fields} >= set(schema.names)


def _as_date(value: object) -> date:
    """An identity(date) partition value: pyiceberg gives days since the epoch."""
    if isinstance(value, date):
        return value
    return date.fromordinal(date(1970, 1, 1).toordinal() + int(value))  # type: ignore[arg-type]


def write_files_marker(partition: Path, files: Sequence[str]) -> None:
    """Name in a local partition directory the table's data files it holds, so a later cache sync
    keeps it while the snapshot's files for it are the same (see warehouse/table_cache.py)."""
    (partition / FILES_MARKER).write_text(json.dumps({"files": sorted(files)}))


def read_files_marker(partition: Path) -> list[str] | None:
    """The data files a local partition holds, or None when it names none (or is gone)."""
    try:
        return list(json.loads((partition / FILES_MARKER).read_text())["files"])
    except (OSError, ValueError, KeyError):
        return None
