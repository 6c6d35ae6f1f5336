"""The previous version's catalog files into the catalog's Iceberg tables (`spotify-bulk migrate`).

The previous version kept each catalog table as Parquet files rewritten whole under `lake/`:
`catalog_{name}/part-0.parquet`, `catalog_{name}_daily/snapshot_date=YYYY-MM-DD/part-0.parquet` and
the fetch state in `catalog_state/kind={kind}/part-0.parquet`, with the Web API app's hints
(`refused.json`, `lookup.json`) beside it. Each file becomes one upsert commit (so a re-run replaces
what an interrupted one committed, never adds to it), the hints move to `.enrichment/{kind}/`, and
only after every commit succeeded are the old files removed. Nothing is fetched again: the state
keeps every id's last fetch time.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import pyarrow.parquet as pq

from pipeline.enrichment.store import Partition, conform, upsert
from pipeline.enrichment.tables import (
    CATALOG_TABLES,
    KIND_COLUMN,
    SNAPSHOT_COLUMN,
    STATE,
    CatalogTable,
    lookup_path,
    refused_path,
)
from pipeline.layout import Layout, safe_name
from pipeline.storage.migrate import LEGACY_FILE
from pipeline.storage.tables import TableLake

HINTS = {"refused.json": refused_path, "lookup.json": lookup_path}


@dataclass(frozen=True)
class LegacyFile:
    """One Parquet file of the previous version's catalog, and the partition it holds."""

    table: CatalogTable
    partition: Partition | None
    path: Path


@dataclass(frozen=True)
class MigratedCatalog:
    files: int  # old catalog files committed into Iceberg tables
    rows: int
    removed: tuple[str, ...]  # old files and folders removed after the commits


def _partitions(root: Path, column: str) -> list[tuple[str, Path]]:
    """(value, folder) of the `column=value` folders under `root` that hold an old file."""
    found = []
    for folder in sorted(root.glob(f"{column}=*")):
        if (folder / LEGACY_FILE).is_file():
            found.append((folder.name.split("=", 1)[1], folder))
    return found


def legacy_catalog_files(layout: Layout) -> list[LegacyFile]:
    """Every catalog file of the previous version under `lake/`, current tables first."""
    found = []
    for table in CATALOG_TABLES.values():
        root = layout.lake_table(table.name)
        if table.daily:
            for day, folder in _partitions(root, SNAPSHOT_COLUMN):
                found.append(LegacyFile(table, date.fromisoformat(day), folder / LEGACY_FILE))
        elif (root / LEGACY_FILE).is_file():
            found.append(LegacyFile(table, None, root / LEGACY_FILE))
    for kind, folder in _partitions(layout.lake_table(STATE.name), KIND_COLUMN):
        found.append(LegacyFile(STATE, safe_name(kind, what="catalog kind"), folder / LEGACY_FILE))
    return found


def migrate_catalog(layout: Layout, lake: TableLake) -> MigratedCatalog:
    """Commit every old catalog file into its Iceberg table, move the hints, then remove the files."""
    old = legacy_catalog_files(layout)
    rows = 0
    for legacy in old:
        data = conform(pq.read_table(legacy.path), legacy.table.schema)
        if data.num_rows:
            upsert(lake, legacy.table, data, legacy.partition)
        rows += data.num_rows
    removed = []
    for legacy in old:  # only after every commit: a failure leaves the old files whole
        if legacy.table is STATE:
            continue  # with its folder, below
        if legacy.table.daily:
            shutil.rmtree(legacy.path.parent)  # the day's `snapshot_date=` folder
        else:
            legacy.path.unlink()
        removed.append(str(legacy.path.relative_to(layout.data_dir)))
    for folder in sorted(layout.lake_table(STATE.name).glob(f"{KIND_COLUMN}=*")):
        kind = safe_name(folder.name.split("=", 1)[1], what="catalog kind")
        for name, where in HINTS.items():
            if (folder / name).is_file():
                target = where(layout, kind)
                target.parent.mkdir(parents=True, exist_ok=True)
                os.replace(folder / name, target)
        shutil.rmtree(folder)
        removed.append(str(folder.relative_to(layout.data_dir)))
    return MigratedCatalog(len(old), rows, tuple(removed))
