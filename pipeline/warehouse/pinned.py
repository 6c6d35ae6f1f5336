"""The snapshots one build reads: every lake table's pinned once (the report tables and the Web API
catalog's), the marts' as the build writes them.

A build pins each lake table's current snapshot at its start and reads exactly those data files
however many loads commit meanwhile; it reads each mart at its current snapshot (only the build,
under the warehouse lock, writes marts). The ids it read and wrote are what reproduces it (time
travel is Iceberg's: `table.scan(snapshot_id=...)`), and what the published catalog names.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

from pipeline.enrichment.tables import CATALOG_TABLES
from pipeline.reports import TABLES_BY_NAME
from pipeline.storage.catalog_lock import lake_commit_lock
from pipeline.storage.partition_columns import local_path
from pipeline.storage.tables import Partition
from pipeline.warehouse.paths import WarehousePaths

FileRef = Path | str  # a local data file, or an object-store URI


def file_ref(uri: str) -> FileRef:
    path = local_path(uri)
    return path if path is not None else uri


Listing = dict[Partition, list[str]]  # a snapshot's files by partition, as the lake lists them
# The latest references made of each table's listing, kept across builds in one process (a
# schedule's or a test's): converting every file of a long history again each build is what
# would grow with it. Keyed by "<namespace>.<table>"; equal URIs always give equal references.
_REFS: dict[str, tuple[Listing, dict[Partition, list[FileRef]]]] = {}


@dataclass
class Pinned:
    """`lake_ids`: lake table -> pinned snapshot id (tables without a snapshot are empty)."""

    paths: WarehousePaths
    lake_ids: dict[str, int]
    _written: dict[str, int] = field(default_factory=dict)
    _marts: dict[str, int] | None = None  # the marts' snapshots when the build first read one

    @classmethod
    def now(cls, paths: WarehousePaths) -> Pinned:
        """The lake tables' current snapshots."""
        read = TABLES_BY_NAME.keys() | CATALOG_TABLES.keys()
        with lake_commit_lock(paths.lake.catalog_uri):  # no load or enrichment half committed, anywhere
            ids = {name: sid for name, sid in paths.lake.snapshot_ids().items() if name in read}
        return cls(paths, ids)

    def lake_files(self, table: str) -> dict[Partition, list[FileRef]]:
        sid = self.lake_ids.get(table)
        return {} if sid is None else self._as_refs(f"lake.{table}", self.paths.lake.files(table, sid))

    def lake_partitions(self, table: str) -> list[tuple[str, date, list[FileRef]]]:
        return [(licensor, day, files) for (licensor, day), files in self.lake_files(table).items()]

    def mart_files(self, model: str) -> dict[Partition, list[FileRef]]:
        """The mart's files at the snapshot this build committed, or else at the one current when
        the build first read a mart: only the build writes marts (under the warehouse lock), so
        neither takes a catalog round trip to find again."""
        if self._marts is None:
            self._marts = self.paths.marts.snapshot_ids()
        sid = self._written.get(model, self._marts.get(model))
        found = {} if sid is None else self.paths.marts.files(model, sid)
        return self._as_refs(f"marts.{model}", found)

    @staticmethod
    def _as_refs(key: str, files: Listing) -> dict[Partition, list[FileRef]]:
        """`files` as references, converted once per snapshot's listing (the lake remembers one
        listing per snapshot; a build asks for a mart's files after each of its commits), and only
        for the partitions whose files changed since the table's listing before."""
        source, refs = _REFS.get(key, ({}, {}))
        if source is not files:
            refs = {
                part: refs[part] if source.get(part) == found else [file_ref(f) for f in found]
                for part, found in files.items()
            }
            _REFS[key] = (files, refs)
        return refs

    def wrote(self, model: str, snapshot_id: int) -> None:
        self._written[model] = snapshot_id

    def mart_ids(self) -> dict[str, int]:
        """Each mart's current snapshot (the build's commits included)."""
        return self.paths.marts.snapshot_ids()

    def snapshot_ids(self) -> dict[str, int]:
        """`lake.<table>` and `marts.<model>` -> snapshot id: everything a published catalog reads."""
        lake = {f"lake.{name}": sid for name, sid in sorted(self.lake_ids.items())}
        return lake | {f"marts.{name}": sid for name, sid in sorted(self.mart_ids().items())}
