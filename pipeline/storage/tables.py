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

import abc
import contextlib
import functools
import itertools
import os
import random
import shutil
import time
import uuid
import warnings
import weakref
from collections import OrderedDict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
from pyiceberg.catalog import Catalog
from pyiceberg.catalog.sql import SqlCatalog
from pyiceberg.exceptions import (
    CommitFailedException,
    NamespaceAlreadyExistsError,
    NoSuchNamespaceError,
    NoSuchTableError,
    TableAlreadyExistsError,
    ValidationException,
)
from pyiceberg.expressions import AlwaysTrue, And, BooleanExpression, EqualTo, LessThan
from pyiceberg.manifest import ManifestContent, ManifestFile
from pyiceberg.partitioning import PartitionField, PartitionSpec
from pyiceberg.schema import assign_fresh_schema_ids
from pyiceberg.table import Table
from pyiceberg.table.snapshots import Snapshot
from pyiceberg.transforms import IdentityTransform
from sqlalchemy.exc import IntegrityError, OperationalError, ProgrammingError

from pipeline.layout import safe_name
from pipeline.storage.object_store import (
    ObjectStoreSettings,
    StoreUrl,
    delete_keys,
    ensure_bucket,
    fileio_properties,
    s3_filesystem,
)
from pipeline.storage.partition_columns import (
    PARTITION_COLUMNS,
    holds_only_partition,
    local_path,
    nullable,
    with_partition_columns,
)

Partition = tuple[str, date]  # (licensor, date); unpartitioned tables use `WHOLE`
WHOLE: Partition = ("", date.min)

NAMESPACE = "lake"
CATALOG_NAME = "spotify_bulk"
MAX_COMMIT_ATTEMPTS = 20
_COPY_CHUNK = 4 << 20  # bytes per write when a staged file is copied as it is
CATALOG_INIT_ATTEMPTS = 3
LOCAL_CATALOG = "catalog.db"  # the SQLite catalog in the data directory: nothing to start
LOCAL_LOCATION = "lake"  # the tables' data and metadata under the data directory
PUBLISHED_TAG = "published-"  # tags on the snapshots a published warehouse reads (see `expire`)
MANIFESTS_REMEMBERED = 4096  # manifests (and manifest lists) whose contents a lake keeps in memory
# Iceberg's merge-append: an append that would leave a table's current snapshot with this many data
# manifests rewrites them into one. Without it every commit adds a manifest that stays, and reading
# a table (a build pinning it lists every file) grows with the number of commits, not of files.
MANIFEST_MERGE: dict[str, str] = {
    "commit.manifest-merge.enabled": "true",
    "commit.manifest.min-count-to-merge": "8",
}
# Each commit writes a new metadata file that logs its predecessors. Iceberg's default keeps 100 in
# the log and every file on disk; pyiceberg deep-copies the log at each metadata update (several
# per commit), which cost a quarter of a one-day build's CPU. Iceberg's own bound keeps the last
# `METADATA_VERSIONS` and deletes older files at commit (readers go through the catalog's pointer
# to the current file; time travel is by snapshot id, in that file).
METADATA_VERSIONS = 10
METADATA_BOUND: dict[str, str] = {
    "write.metadata.delete-after-commit.enabled": "true",
    "write.metadata.previous-versions-max": str(METADATA_VERSIONS),
}
TABLE_PROPERTIES = MANIFEST_MERGE | METADATA_BOUND  # every table's, set at creation or next write
# An unreferenced file younger than this may be a writer's in flight (a landing renames its file
# into the table's folder, then commits; a commit retries): the orphan sweep never takes one, however
# short the readers' grace period. Iceberg's own maintenance waits days; an hour covers any commit.
ORPHAN_MIN_AGE_SECONDS = 3600.0
LISTINGS_KEPT = 128  # snapshot file listings a process remembers (a build reads about 60)


@dataclass
class _Remembered:
    """What never changes once written, read once per process and shared by a lake's namespaces
    (a build reaches the marts through a new `sibling` each time): each manifest's live (partition,
    data file), each manifest list's manifests (by path), and the latest snapshots' file listings."""

    files: dict[str, tuple[tuple[Partition, str], ...]] = field(default_factory=dict)
    manifests: dict[str, tuple[ManifestFile, ...]] = field(default_factory=dict)
    listings: OrderedDict[tuple[str, str, int], dict[Partition, list[str]]] = field(
        default_factory=OrderedDict
    )

    def listing(self, key: tuple[str, str, int]) -> dict[Partition, list[str]] | None:
        found = self.listings.get(key)
        if found is not None:
            self.listings.move_to_end(key)
        return found

    def remember_listing(self, key: tuple[str, str, int], listing: dict[Partition, list[str]]) -> None:
        """Keep the `LISTINGS_KEPT` latest used: a long-lived process must not hold every
        snapshot's listing of every table it ever read."""
        self.listings[key] = listing
        self.listings.move_to_end(key)
        while len(self.listings) > LISTINGS_KEPT:
            self.listings.popitem(last=False)


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
    snapshots: int = 0  # the table's snapshots after the commit (what a load's expiry looks at)


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


def _pause_before_retry(attempt: int) -> None:
    """A commit that lost its race waits a little longer each time, jittered so racers part."""
    time.sleep(random.uniform(0.01, 0.05) * attempt)


def partition_filter(licensor: str, day: date) -> BooleanExpression:
    return And(EqualTo("licensor", licensor), EqualTo("date", day.isoformat()))


class TableLake:
    """Iceberg tables of one namespace: create on first write, replace partitions, read snapshots."""

    def __init__(
        self,
        catalog: Catalog,
        location: str,
        *,
        namespace: str = NAMESPACE,
        store: ObjectStoreSettings | None = None,
        remembered: _Remembered | None = None,
    ) -> None:
        self.catalog = catalog
        self.location = location.rstrip("/")
        self.namespace = namespace
        self.store = store or ObjectStoreSettings()  # how readers of its files reach the store
        self._remembered = remembered or _Remembered()  # siblings share it

    @classmethod
    def open(cls, catalog_uri: str, location: str, store: ObjectStoreSettings) -> TableLake:
        """The lake at `location` (its bucket created if missing), committed through `catalog_uri`."""
        ensure_bucket(location, store)
        return cls(open_catalog(catalog_uri, location, store), location, store=store)

    @classmethod
    def local(cls, data_dir: Path) -> TableLake:
        """The default lake of a data directory: `catalog.db` and `lake/` in it (one per process)."""
        return _local_lake(str(Path(data_dir).resolve()))

    @property
    def catalog_uri(self) -> str:
        """The SQLAlchemy URL of the catalog the tables commit through (a secret: never log it)."""
        return str(self.catalog.properties["uri"])

    def sibling(self, namespace: str) -> TableLake:
        """The tables of another namespace (marts, accumulators) in the same catalog and location."""
        return TableLake(
            self.catalog, self.location, namespace=namespace, store=self.store, remembered=self._remembered
        )

    @property
    def on_object_store(self) -> bool:
        return StoreUrl.parse(self.location).is_s3

    def identifier(self, table: str) -> tuple[str, str]:
        return (self.namespace, safe_name(table, what="table"))

    def table_location(self, table: str) -> str:
        name = safe_name(table, what="table")
        folder = self.location if self.namespace == NAMESPACE else f"{self.location}/{self.namespace}"
        return f"{folder}/{name}"

    def table_names(self) -> list[str]:
        """The namespace's tables; none only when the namespace does not exist yet (nothing written).

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
        """The table, or None when the catalog has none of that name (one metadata read: pyiceberg's
        `table_exists` loads the table too)."""
        try:
            return self.catalog.load_table(self.identifier(table))
        except NoSuchTableError:
            return None

    def drop(self, table: str) -> None:
        """Forget `table` in the catalog (its files go with the orphan sweep, after the grace period)."""
        if self.catalog.table_exists(self.identifier(table)):
            self.catalog.drop_table(self.identifier(table))

    def table_for(
        self,
        table: str,
        schema: pa.Schema,
        *,
        partitioned: bool = True,
        partition_by: tuple[str, ...] | None = None,
    ) -> Table:
        """The table, created on first write (a racing creator's table is used as it is).

        Partitioned by identity(licensor), identity(date), or by identity of the `partition_by`
        columns when given (a catalog table's `snapshot_date`), or not at all (`partitioned=False`).
        """
        existing = self.load(table)
        if existing is not None:
            return _with_table_properties(existing)
        # A concurrent writer may create it between pyiceberg's check and insert: then the insert
        # fails on the catalog's unique key instead of NamespaceAlreadyExistsError.
        with contextlib.suppress(NamespaceAlreadyExistsError, IntegrityError):
            self.catalog.create_namespace(self.namespace)
        iceberg_schema = assign_fresh_schema_ids(self.catalog._convert_schema_if_needed(schema))
        fields = (
            PartitionField(
                source_id=iceberg_schema.find_field(name).field_id,
                field_id=1000 + n,
                transform=IdentityTransform(),
                name=name,
            )
            for n, name in enumerate(_partition_names(partitioned, partition_by))
        )
        try:  # schema and spec in one commit: no moment at which the table is unpartitioned
            return self.catalog.create_table(
                self.identifier(table),
                schema=iceberg_schema,
                partition_spec=PartitionSpec(*fields),
                location=self.table_location(table),
                properties=TABLE_PROPERTIES,
            )
        except TableAlreadyExistsError:
            return _with_table_properties(self.catalog.load_table(self.identifier(table)))

    def replace_partition(self, table: str, licensor: str, day: date, data: pa.Table) -> Commit:
        """Replace `table`'s licensor/day partition with `data` (in memory) in one atomic commit."""
        rows = with_partition_columns(data, licensor, day)
        iceberg = self.table_for(table, rows.schema)
        if not rows.num_rows:
            return self.replace_files(table, [], rows.schema, partition=(licensor, day), loaded=iceberg)
        path = _write_file(iceberg, rows, self.data_path(iceberg, licensor, day))
        return self.replace_files(
            table, [path], rows.schema, partition=(licensor, day), rows=data.num_rows, loaded=iceberg
        )

    def replace_rows(
        self,
        table: str,
        data: pa.Table,
        where: BooleanExpression,
        *,
        partition_by: tuple[str, ...] = (),
        based_on: int | None = None,
    ) -> Commit:
        """One atomic commit: delete the rows `where` selects and add `data` as one new data file.

        `partition_by`: the identity partition columns of a table this creates (`data` holds one
        value of each, so its file lies in one partition); none: unpartitioned. `based_on`: as for
        `replace_files` (a read-merge-write that must not overwrite a concurrent commit).
        """
        rows = nullable(data)
        iceberg = self.table_for(table, rows.schema, partition_by=partition_by)
        files = [_write_file(iceberg, rows, self.data_path(iceberg))] if rows.num_rows else []
        return self.replace_files(
            table,
            files,
            rows.schema,
            where=where,
            rows=rows.num_rows,
            partition_by=partition_by,
            based_on=based_on,
        )

    def replace_partition_file(
        self, table: str, licensor: str, day: date, staged: Path, *, row_group_rows: int = 131_072
    ) -> Commit:
        """Replace the partition with the rows of the Parquet file `staged`, streamed a row group at
        a time (memory: one row group, whatever the day's size) into the table's data file, then
        committed in one atomic commit."""
        source = pq.ParquetFile(staged)
        try:
            schema = with_partition_columns(source.schema_arrow.empty_table(), licensor, day).schema
            iceberg = self.table_for(table, schema)
            rows = source.metadata.num_rows
            if not rows:  # an empty day: the partition holds no file (Iceberg has no empty partition)
                return self.replace_files(table, [], schema, partition=(licensor, day), loaded=iceberg)
            path = self.data_path(iceberg, licensor, day)
            if source.schema_arrow.equals(schema) and holds_only_partition(source.metadata, licensor, day):
                # Written for this partition already (landing does): the bytes are the data file.
                with open(staged, "rb") as raw, iceberg.io.new_output(path).create(overwrite=True) as out:
                    shutil.copyfileobj(raw, out, _COPY_CHUNK)
                return self.replace_files(
                    table, [path], schema, partition=(licensor, day), rows=rows, loaded=iceberg
                )
            with iceberg.io.new_output(path).create(overwrite=True) as out:
                sorting = source.metadata.row_group(0).sorting_columns if source.num_row_groups else None
                with pq.ParquetWriter(out, schema, compression="zstd", sorting_columns=sorting) as writer:
                    for index in range(source.num_row_groups):
                        part = with_partition_columns(source.read_row_group(index), licensor, day)
                        writer.write_table(part.cast(schema), row_group_size=row_group_rows)
        finally:
            source.close()
        return self.replace_files(table, [path], schema, partition=(licensor, day), rows=rows, loaded=iceberg)

    def data_path(self, table: Table, licensor: str | None = None, day: date | None = None) -> str:
        """A new, unique data file name in `table`'s data directory (Hive-style partition folders)."""
        folder = f"{table.location().rstrip('/')}/data"
        if licensor is not None and day is not None:
            folder += f"/licensor={safe_name(licensor, what='licensor')}/date={day:%Y-%m-%d}"
        return f"{folder}/{uuid.uuid4().hex}.parquet"

    def replace_files(
        self,
        table: str,
        files: list[str],
        schema: pa.Schema,
        *,
        partition: Partition | None = None,
        where: BooleanExpression | None = None,
        rows: int = 0,
        partitioned: bool = True,
        partition_by: tuple[str, ...] | None = None,
        based_on: int | None = None,
        properties: dict[str, str] | None = None,
        loaded: Table | None = None,
    ) -> Commit:
        """One atomic commit: delete what `where` (or the one `partition`) selects, add `files`;
        `properties` go into the new snapshot's summary. `loaded`: the table as the caller just
        loaded it (its first attempt reads no metadata again; a retry reloads).

        Deleting whole partitions drops their files without rewriting any. A commit that loses a
        race with another writer is retried on the fresh metadata (of the same partition, the later
        writer's version wins whole); readers see the old rows or the new ones, never a mix or an
        absence. `based_on`: the snapshot id (0: none yet) `files` were derived from (a
        read-merge-write); if the table has moved on,
        `CommitFailedException` is raised instead of a retry, for the caller to derive them again.
        """
        started = time.monotonic()
        if where is None:
            where = partition_filter(*partition) if partition is not None else AlwaysTrue()
        for attempt in range(1, MAX_COMMIT_ATTEMPTS + 1):
            iceberg = (
                loaded
                if attempt == 1 and loaded is not None
                else self.table_for(table, schema, partitioned=partitioned, partition_by=partition_by)
            )
            current = iceberg.current_snapshot()
            if based_on is not None and based_on != (current.snapshot_id if current else 0):
                raise CommitFailedException(f"{table} changed since snapshot {based_on} was read")
            try:
                with iceberg.transaction() as tx:
                    if not _same_columns(iceberg, schema):
                        with tx.update_schema() as evolve:
                            evolve.union_by_name(schema)
                    with warnings.catch_warnings():  # a first write deletes nothing: expected
                        warnings.filterwarnings("ignore", "Delete operation did not match any records")
                        tx.delete(where, snapshot_properties=properties or {})
                    if files or properties:  # with properties, even no file makes a snapshot
                        tx.add_files(files, snapshot_properties=properties or {}, check_duplicate_files=False)
            except (CommitFailedException, ValidationException) as lost:
                # ValidationException: pyiceberg's own retry found a concurrent commit to what `where`
                # selects (its plan is stale); planned again on the fresh table, the replace applies.
                if attempt == MAX_COMMIT_ATTEMPTS or based_on is not None:
                    if isinstance(lost, ValidationException):
                        raise CommitFailedException(f"{table} changed during the commit: {lost}") from lost
                    raise
                _pause_before_retry(attempt)
                continue
            snapshot = iceberg.current_snapshot()  # the commit updated `iceberg` to its new metadata
            licensor, day = partition if partition is not None else WHOLE
            return Commit(
                table=table,
                licensor=licensor,
                day=day,
                rows=rows,
                snapshot_id=snapshot.snapshot_id if snapshot else 0,
                seconds=time.monotonic() - started,
                attempts=attempt,
                files=tuple(sorted(files)),
                snapshots=len(iceberg.metadata.snapshots),
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
            raise KeyError(f"no table {table!r} in {self.namespace}")
        scan_args: dict[str, Any] = {"snapshot_id": snapshot_id}
        if licensor is not None and day is not None:
            scan_args["row_filter"] = partition_filter(licensor, day)
        return iceberg.scan(**scan_args).to_arrow()

    def files(self, table: str, snapshot_id: int | None = None) -> dict[Partition, list[str]]:
        """(licensor, date) -> the data files of that partition in the snapshot (current: None);
        the files of a table partitioned otherwise (or not at all) under `WHOLE`. Listed once per
        snapshot and remembered; a new snapshot reads only the manifests its predecessors lacked."""
        iceberg = None
        if snapshot_id is None:
            iceberg = self.load(table)
            current = iceberg.current_snapshot() if iceberg is not None else None
            if current is None:
                return {}
            snapshot_id = current.snapshot_id
        key = (self.namespace, table, snapshot_id)
        known = self._remembered.listing(key)
        if known is not None:
            return known
        if iceberg is None:
            iceberg = self.load(table)
        if iceberg is None:
            return {}
        found: dict[Partition, list[str]] = {}
        snapshot = iceberg.snapshot_by_id(snapshot_id)
        for manifest in self._manifests_of(iceberg, snapshot) if snapshot is not None else ():
            for part, path in self._live_files(iceberg, manifest):
                found.setdefault(part, []).append(path)
        listing = {part: sorted(paths) for part, paths in sorted(found.items())}
        self._remembered.remember_listing(key, listing)
        return listing

    def partition_stats(self, table: str) -> dict[Partition, tuple[int, int, datetime]]:
        """(licensor, date) -> (rows, bytes, committed at) of the table's current partitions, from
        the manifests (no data file is opened); none when the table does not exist."""
        iceberg = self.load(table)
        current = iceberg.current_snapshot() if iceberg is not None else None
        if iceberg is None or current is None:
            return {}
        stamp = datetime.fromtimestamp(current.timestamp_ms / 1000, UTC)
        found: dict[Partition, tuple[int, int, datetime]] = {}
        by_licensor_and_date = _by_licensor_and_date(iceberg)
        for task in iceberg.scan().plan_files():
            part = _partition_of(task.file.partition, by_licensor_and_date)
            rows, size, _ = found.get(part, (0, 0, stamp))
            found[part] = (rows + task.file.record_count, size + task.file.file_size_in_bytes, stamp)
        return dict(sorted(found.items()))

    def partitions(self, table: str, *, snapshot_id: int | None = None) -> dict[Partition, list[str]]:
        """(licensor, date) -> the data files of that partition in the snapshot."""
        return self.files(table, snapshot_id)

    def tag(self, pins: dict[str, int], name: str) -> None:
        """Tag each table's pinned snapshot `name`: expiry keeps tagged snapshots (and their files).
        A load may commit to the table meanwhile (a build tags while loads go on): the tag is then
        added again on the fresh metadata, as often as a replace would try."""
        for table, snapshot_id in pins.items():
            for attempt in range(1, MAX_COMMIT_ATTEMPTS + 1):
                iceberg = self.load(table)
                if iceberg is None or name in iceberg.metadata.refs:
                    break
                try:
                    iceberg.manage_snapshots().create_tag(snapshot_id, name).commit()
                    break
                except CommitFailedException:
                    if attempt == MAX_COMMIT_ATTEMPTS:
                        raise
                    _pause_before_retry(attempt)

    def expire(
        self,
        older_than: datetime,
        *,
        keep_tags: Iterable[str] = (),
        tables: Iterable[str] | None = None,
        contained: bool = False,
        at_least: int = 1,
    ) -> int:
        """Expire what no reader can still hold (in every table, or in `tables`); how many
        snapshots went.

        A snapshot goes once it was superseded before `older_than` (a reader's grace period runs
        from the moment a snapshot stopped being current, not from its creation) and no tag keeps
        it. A `published-<ns>` tag (a published catalog's snapshot) goes once a later publish
        replaced that catalog before `older_than`, unless it is in `keep_tags`. The data files
        only expired snapshots referenced are deleted after the expiry commit.

        `contained`: also expire at once the untagged, superseded snapshots whose every data file
        the current snapshot still holds (a new day's append supersedes its predecessor so, as
        does the delete half of a replace): a reader of one reads files that stay, so no grace is
        owed to it. Their manifest lists and manifests are left to the orphan sweep, which only
        takes files old enough not to be mid-read. `at_least`: leave a table alone until it holds
        this many superseded, untagged snapshots (one expiry commit serves several loads).
        """
        cutoff_ms = older_than.timestamp() * 1000
        kept_tags = set(keep_tags)
        expired = 0
        for name in self.table_names() if tables is None else tables:
            try:
                expired += self._expire_table(name, cutoff_ms, kept_tags, contained, at_least)
            except (CommitFailedException, ValidationException):  # a load committed meanwhile:
                continue  # that table is the next expiry's
        return expired

    def _expire_table(
        self, name: str, cutoff_ms: float, kept_tags: set[str], contained: bool, at_least: int
    ) -> int:
        """`expire` for one table; how many snapshots went."""
        table = self.load(name)
        if table is None:
            return 0
        stale_tags = _replaced_tags(table.metadata.refs, cutoff_ms) - kept_tags
        if stale_tags:
            with table.manage_snapshots() as manage:
                for ref in sorted(stale_tags):
                    manage.remove_tag(ref)
            table = self.catalog.load_table(self.identifier(name))
        protected = {ref.snapshot_id for ref in table.metadata.refs.values()}
        ordered = sorted(table.snapshots(), key=lambda s: s.timestamp_ms)
        superseded = [
            (s.snapshot_id, after.timestamp_ms < cutoff_ms)
            for s, after in itertools.pairwise(ordered)
            if s.snapshot_id not in protected
        ]
        if len(superseded) < at_least:
            return 0
        old = [sid for sid, before_cutoff in superseded if before_cutoff]
        young = [sid for sid, before_cutoff in superseded if not before_cutoff]
        held = self._contained(table, young) if contained and young else []
        if not old and not held:
            return 0
        self._expire(table, old, contained=held)
        return len(old) + len(held)

    def _contained(self, table: Table, snapshot_ids: list[int]) -> list[int]:
        """The snapshots among `snapshot_ids` whose data files the current snapshot all holds."""
        live = self._data_files(table, _current(table))
        return [sid for sid in snapshot_ids if self._data_files(table, [sid]) <= live]

    def _expire(self, table: Table, doomed: list[int], *, contained: Iterable[int] = ()) -> None:
        """Expire the `doomed` snapshots, then delete every file only they referenced: data files,
        manifests and their manifest lists (pyiceberg's expiry only edits the metadata, so without
        this each commit's manifest list and manifests stayed on disk for good). `contained`
        snapshots are expired too, their files left to the orphan sweep."""
        spared = set(contained)
        kept = [s.snapshot_id for s in table.snapshots() if s.snapshot_id not in doomed]  # spared too
        files = self._data_files(table, doomed) - self._data_files(table, kept)
        files |= self._metadata_files(table, doomed) - self._metadata_files(table, kept)
        table.maintenance.expire_snapshots().by_ids([*doomed, *spared]).commit()
        for path in sorted(files):
            table.io.delete(path)

    def delete_where(self, where: BooleanExpression, *, tables: Iterable[str] | None = None) -> int:
        """Delete the rows `where` selects from every table (or `tables`; whole partitions: their
        files are dropped, never rewritten), one commit per table that has any; how many changed."""
        changed = 0
        names = self.table_names()
        for name in names if tables is None else [t for t in tables if t in names]:
            table = self.load(name)
            if table is None or table.current_snapshot() is None:
                continue
            if any(True for _ in table.scan(row_filter=where).plan_files()):
                table.delete(where)
                changed += 1
        return changed

    def dated_tables(self) -> list[str]:
        """The tables with a `date` column: those retention applies to (not the Web API catalog's)."""
        return [name for name in self.table_names() if _has_column(self.load(name), "date")]

    def delete_before(self, cutoff: date) -> int:
        """Delete every partition dated before `cutoff` (retention), one commit per dated table; how
        many tables changed. Their files go physically at the next `expire`."""
        return self.delete_where(LessThan("date", cutoff.isoformat()), tables=self.dated_tables())

    def purge_before(self, cutoff: date, *, tables: Iterable[str] | None = None) -> int:
        """Expire at once every snapshot (tagged or not) that still references a file of a partition
        dated before `cutoff`, and delete those files: after `delete_before`, no file any retained
        snapshot references holds such a row. How many snapshots went."""
        purged = 0
        names = self.dated_tables()
        for name in names if tables is None else [t for t in tables if t in names]:
            table = self.load(name)
            current = table.current_snapshot() if table is not None else None
            if table is None or current is None:
                continue
            doomed = [
                s.snapshot_id
                for s in table.snapshots()
                if s.snapshot_id != current.snapshot_id and _holds_before(table, s.snapshot_id, cutoff)
            ]
            if not doomed:
                continue
            refs = table.metadata.refs.items()
            tags = [ref for ref, r in refs if r.snapshot_id in doomed and ref != "main"]
            if tags:
                with table.manage_snapshots() as manage:
                    for ref in tags:
                        manage.remove_tag(ref)
                table = self.catalog.load_table(self.identifier(name))
            self._expire(table, doomed)
            purged += len(doomed)
        return purged

    def remove_orphans(self, older_than: datetime) -> int:
        """Delete the files under the tables' folders (local or on the object store) that nothing
        references and that are older than `older_than` (a crashed writer's, merge-append's
        replaced manifests, a dropped table's): data files no snapshot holds, and metadata files
        (table metadata, manifest lists, manifests) neither the current metadata nor any of its
        snapshots names; how many went.

        Data files the current snapshots hold are set aside first (one manifest list per table):
        only when others remain are every snapshot's manifests read, as they grow with history."""
        tables = {name: t for name in self.table_names() if (t := self.load(name)) is not None}
        stored = self._stored_files()
        cutoff = older_than.timestamp()
        candidates = {uri for folder in stored.data.values() for uri in folder}
        for table in tables.values() if candidates else []:
            candidates -= {_file_key(u) for u in self._data_files(table, _current(table))}
        candidates = {uri for uri in candidates if stored.modified_before(uri, cutoff)}
        for table in tables.values() if candidates else []:
            candidates -= {_file_key(u) for u in self._data_files(table, _every(table))}
        for name, files in stored.metadata.items():
            old = {uri for uri in files if stored.modified_before(uri, cutoff)}
            if old and name in tables:  # the files its metadata names are read only if needed
                old -= self._named_metadata(tables[name])
            candidates |= old
        stored.delete(sorted(candidates))
        return len(candidates)

    def _stored_files(self) -> _StoredFiles:
        """The files in the namespace's table folders, dropped tables' included."""
        base = self.location if self.namespace == NAMESPACE else f"{self.location}/{self.namespace}"
        root = local_path(base)
        if root is not None:
            return _LocalFiles.under(root)
        return _StoreFiles.under(base, self.store)

    def _live_files(self, table: Table, manifest: ManifestFile) -> tuple[tuple[Partition, str], ...]:
        """(partition, path) of each live data file a manifest lists, read once per manifest: a
        manifest never changes once written, and each commit's snapshot shares most of them with the
        one before, so a build listing a table after each commit reads only the new ones."""
        if manifest.content != ManifestContent.DATA:
            return ()
        remembered = self._remembered.files
        found = remembered.get(manifest.manifest_path)
        if found is None:
            if len(remembered) >= MANIFESTS_REMEMBERED:
                remembered.clear()
            entries = manifest.fetch_manifest_entry(table.io, discard_deleted=True)
            by_licensor_and_date = _by_licensor_and_date(table)
            found = tuple(
                (_partition_of(e.data_file.partition, by_licensor_and_date), e.data_file.file_path)
                for e in entries
            )
            remembered[manifest.manifest_path] = found
        return found

    def _manifests_of(self, table: Table, snapshot: Snapshot) -> tuple[ManifestFile, ...]:
        """A snapshot's manifests, its manifest list read once (written once, never changed)."""
        remembered = self._remembered.manifests
        found = remembered.get(snapshot.manifest_list)
        if found is None:
            if len(remembered) >= MANIFESTS_REMEMBERED:
                remembered.clear()
            found = remembered[snapshot.manifest_list] = tuple(snapshot.manifests(table.io))
        return found

    def _data_files(self, table: Table, snapshot_ids: list[int]) -> set[str]:
        """The data files live in any of the snapshots. Each manifest is read once however many
        snapshots share it: planning every snapshot read them all again (history x snapshots)."""
        snapshots = [s for s in map(table.snapshot_by_id, snapshot_ids) if s is not None]
        manifests = {m.manifest_path: m for s in snapshots for m in self._manifests_of(table, s)}
        return {path for m in manifests.values() for _, path in self._live_files(table, m)}

    def _metadata_files(self, table: Table, snapshot_ids: Iterable[int]) -> set[str]:
        """The manifest lists and manifests of the snapshots (what a snapshot's metadata files are)."""
        snapshots = [s for s in map(table.snapshot_by_id, snapshot_ids) if s is not None]
        lists = {s.manifest_list for s in snapshots}
        return lists | {m.manifest_path for s in snapshots for m in self._manifests_of(table, s)}

    def _named_metadata(self, table: Table) -> set[str]:
        """The metadata files `table` names: its current and logged metadata files, and every
        snapshot's manifest list and manifests."""
        uris = {table.metadata_location, *(entry.metadata_file for entry in table.metadata.metadata_log)}
        uris |= self._metadata_files(table, _every(table))
        return {_file_key(uri) for uri in uris}

    def __iter__(self) -> Iterator[str]:
        return iter(self.table_names())


def release_local_lakes() -> None:
    """Close the local lakes this process opened: a data directory replaced under the same path
    (restored from a copy) must be read through a new connection, not the old file's."""
    for lake in list(_OPENED_LOCAL_LAKES):
        if isinstance(lake.catalog, SqlCatalog):
            lake.catalog.engine.dispose()
    _OPENED_LOCAL_LAKES.clear()
    _local_lake.cache_clear()


_OPENED_LOCAL_LAKES: weakref.WeakSet[TableLake] = weakref.WeakSet()  # the cache's, while it holds them


@functools.lru_cache(maxsize=8)
def _local_lake(data_dir: str) -> TableLake:
    root = Path(data_dir)
    root.mkdir(parents=True, exist_ok=True)
    uri = f"sqlite:///{root / LOCAL_CATALOG}"
    lake = TableLake.open(uri, str(root / LOCAL_LOCATION), ObjectStoreSettings())
    _OPENED_LOCAL_LAKES.add(lake)
    return lake


def _file_key(uri: str) -> str:
    """A file as listings compare it: a local path as a plain path, an object as its s3:// URI."""
    path = local_path(uri)
    if path is not None:
        return str(path)
    return "s3://" + uri.removeprefix("s3a://").removeprefix("s3://")


@dataclass
class _StoredFiles(abc.ABC):
    """Files of a namespace's table folders: table folder -> data files, and -> metadata files."""

    data: dict[str, list[str]]
    metadata: dict[str, list[str]]

    @abc.abstractmethod
    def modified_before(self, uri: str, cutoff: float) -> bool: ...

    @abc.abstractmethod
    def delete(self, uris: list[str]) -> None: ...


@dataclass
class _LocalFiles(_StoredFiles):
    """Walked with `os.scandir` (the sweep visits every data file of the lake); only files no
    current snapshot holds are then asked their age."""

    @classmethod
    def under(cls, base: Path) -> _LocalFiles:
        folders = (
            sorted(p for p in base.iterdir() if (p / "data").is_dir() or (p / "metadata").is_dir())
            if base.is_dir()
            else []
        )
        return cls(
            data={f.name: list(_parquet_files(f / "data")) for f in folders},
            metadata={f.name: _files_in(f / "metadata") for f in folders},
        )

    def modified_before(self, uri: str, cutoff: float) -> bool:
        try:
            return os.stat(uri).st_mtime < cutoff
        except FileNotFoundError:  # deleted meanwhile (an expiry's): nothing left to sweep
            return False

    def delete(self, uris: list[str]) -> None:
        for uri in uris:
            Path(uri).unlink(missing_ok=True)


@dataclass
class _StoreFiles(_StoredFiles):
    """Listed from the object store in one recursive listing, with each object's time."""

    store: ObjectStoreSettings
    times: dict[str, float]  # each object's last modification, seconds since the epoch

    @classmethod
    def under(cls, url: str, store: ObjectStoreSettings) -> _StoreFiles:
        import pyarrow.fs as pafs

        where = StoreUrl.parse(url)
        prefix = where.path_for_pyarrow()
        selector = pafs.FileSelector(prefix, recursive=True, allow_not_found=True)
        data: dict[str, list[str]] = {}
        metadata: dict[str, list[str]] = {}
        times: dict[str, float] = {}
        for info in s3_filesystem(store).get_file_info(selector):
            parts = info.path.removeprefix(prefix + "/").split("/")
            if info.type != pafs.FileType.File or len(parts) < 3 or parts[1] not in ("data", "metadata"):
                continue  # another namespace's folder (the lake's holds `marts/`), or a stray object
            uri = f"s3://{info.path}"
            if parts[1] == "data" and info.path.endswith(".parquet"):
                data.setdefault(parts[0], []).append(uri)
            elif parts[1] == "metadata" and len(parts) == 3:
                metadata.setdefault(parts[0], []).append(uri)
            times[uri] = info.mtime.timestamp() if info.mtime is not None else float("inf")
        return cls(data=data, metadata=metadata, store=store, times=times)

    def modified_before(self, uri: str, cutoff: float) -> bool:
        return self.times.get(uri, float("inf")) < cutoff

    def delete(self, uris: list[str]) -> None:
        by_bucket: dict[str, list[str]] = {}
        for uri in uris:
            where = StoreUrl.parse(uri)
            by_bucket.setdefault(where.bucket, []).append(where.prefix)
        for bucket, keys in by_bucket.items():
            delete_keys(f"s3://{bucket}", keys, self.store)


def _files_in(folder: Path) -> list[str]:
    """The files directly in `folder` (none when it does not exist)."""
    try:
        with os.scandir(folder) as entries:
            return [entry.path for entry in entries if entry.is_file(follow_symlinks=False)]
    except FileNotFoundError:
        return []


def _with_table_properties(table: Table) -> Table:
    """`table` with `TABLE_PROPERTIES` set: a table created before them gets them in one
    property-only commit on its first write (none once set; a racing writer's equal update is as
    good)."""
    if all(table.properties.get(key) == value for key, value in TABLE_PROPERTIES.items()):
        return table
    with contextlib.suppress(CommitFailedException), table.transaction() as tx:
        tx.set_properties(TABLE_PROPERTIES)
    return table.refresh()


def _parquet_files(folder: Path | str) -> Iterator[str]:
    """The Parquet files under `folder` (`os.scandir`: the sweep visits every data file of the
    lake; only those no current snapshot holds are then asked their age)."""
    try:
        with os.scandir(folder) as entries:
            for entry in entries:
                if entry.is_dir(follow_symlinks=False):
                    yield from _parquet_files(entry.path)
                elif entry.name.endswith(".parquet"):
                    yield entry.path
    except FileNotFoundError:  # a table with metadata only (created, never written)
        return


def _replaced_tags(refs: dict[str, Any], cutoff_ms: float) -> set[str]:
    """The `published-<ns>` tags whose catalog a later publish replaced before `cutoff_ms`."""
    published = sorted(
        (int(ref.removeprefix(PUBLISHED_TAG)), ref)
        for ref in refs
        if ref.startswith(PUBLISHED_TAG) and ref.removeprefix(PUBLISHED_TAG).isdigit()
    )
    return {ref for (_, ref), (later_ns, _) in itertools.pairwise(published) if later_ns / 1e6 < cutoff_ms}


def _holds_before(table: Table, snapshot_id: int, cutoff: date) -> bool:
    scan = table.scan(snapshot_id=snapshot_id, row_filter=LessThan("date", cutoff.isoformat()))
    return any(True for _ in scan.plan_files())


def _current(table: Table) -> list[int]:
    snapshot = table.current_snapshot()
    return [snapshot.snapshot_id] if snapshot is not None else []


def _every(table: Table) -> list[int]:
    return [s.snapshot_id for s in table.snapshots()]


def _write_file(table: Table, rows: pa.Table, path: str) -> str:
    """`rows` as a zstd Parquet data file at `path` in `table`'s storage; the path."""
    with table.io.new_output(path).create(overwrite=True) as out:
        pq.write_table(rows, out, compression="zstd")
    return path


def _partition_names(partitioned: bool, partition_by: tuple[str, ...] | None) -> tuple[str, ...]:
    if partition_by is not None:
        return partition_by
    return tuple(name for name, _ in PARTITION_COLUMNS) if partitioned else ()


def _by_licensor_and_date(table: Table) -> bool:
    """Whether the table is partitioned as the lake's report tables are."""
    names = tuple(field.name for field in table.spec().fields)
    return names == _partition_names(True, None)


def _partition_of(record: Any, by_licensor_and_date: bool) -> Partition:
    """A data file's (licensor, date), or `WHOLE` for a table partitioned otherwise or not at all."""
    return (str(record[0]), _as_date(record[1])) if by_licensor_and_date else WHOLE


def _has_column(table: Table | None, name: str) -> bool:
    return table is not None and name in {f.name for f in table.schema().fields}


def _same_columns(table: Table, schema: pa.Schema) -> bool:
    return {f.name for f in table.schema().fields} >= set(schema.names)


def _as_date(value: object) -> date:
    """An identity(date) partition value: pyiceberg gives days since the epoch."""
    if isinstance(value, date):
        return value
    return date.fromordinal(date(1970, 1, 1).toordinal() + int(value))  # type: ignore[arg-type]
