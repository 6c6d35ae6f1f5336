"""`spotify-bulk migrate`: a data directory of the previous version into Iceberg tables.

The previous version kept the lake as Hive `lake/{table}/licensor=/date=/part-0.parquet` folders
swapped in by rename, and the warehouse's own snapshot machinery beside it (`.warehouse/snapshots`,
`.warehouse/mart-versions`, `marts/`, `CURRENT`, `lake-snapshot.json`). Migration commits every old
partition into its Iceberg table (one commit each, as a load would), and only after every commit
succeeded removes the old trees; the archive, rejects and ledger keep their layout and are not
touched. The Web API catalog's files are converted by `pipeline.enrichment.legacy` (the CLI runs
both). Marts and the dimensions' state are derived: the next build (`spotify-bulk build`) makes
them again from the migrated lake. Running it twice is harmless (a partition is replaced, not added).
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from pipeline.errors import UsageError
from pipeline.layout import Layout, partition_dirs
from pipeline.reports import TABLES_BY_NAME

if TYPE_CHECKING:
    from pipeline.storage.tables import TableLake

LEGACY_FILE = "part-0.parquet"
# What the previous version kept beside the lake; all of it derived or bookkeeping.
LEGACY_TREES = (".warehouse/snapshots", ".warehouse/mart-versions", ".warehouse/accumulators", "marts")
LEGACY_FILES = (".warehouse/CURRENT", "lake-snapshot.json", "iceberg-catalog.db")
# The Web API catalog's files of the previous version (converted by pipeline/enrichment/legacy.py).
LEGACY_CATALOG = ("catalog_*/part-0.parquet", "catalog_*_daily/snapshot_date=*", "catalog_state/kind=*")


@dataclass(frozen=True)
class Migrated:
    partitions: int  # old lake partitions committed into Iceberg tables
    rows: int
    removed: tuple[str, ...]  # old trees and files removed after the commits


def legacy_partitions(layout: Layout) -> list[tuple[str, str, object, Path]]:
    """(table, licensor, date, file) of every Hive partition of the previous version's lake."""
    found = []
    for table in TABLES_BY_NAME:
        for licensor, day, directory in partition_dirs(layout.lake_table(table)):
            if (directory / LEGACY_FILE).is_file():
                found.append((table, licensor, day, directory / LEGACY_FILE))
    return found


def is_legacy(layout: Layout) -> bool:
    """Whether `layout` still holds the previous version's lake or warehouse snapshots."""
    if (layout.data_dir / ".warehouse" / "snapshots").is_dir():
        return True
    if any(next(layout.lake_root.glob(pattern), None) is not None for pattern in LEGACY_CATALOG):
        return True
    return any(next(layout.lake_table(t).glob("licensor=*"), None) is not None for t in TABLES_BY_NAME)


def refuse_legacy(layout: Layout) -> None:
    """One clear line instead of a build or load over a layout this version does not read."""
    if is_legacy(layout):
        raise UsageError(
            f"{layout.data_dir} holds a lake of the previous version (Hive folders or catalog "
            "Parquet files under lake/): "
            "run `spotify-bulk migrate` once to convert it to Iceberg tables"
        )


def migrate(layout: Layout, tables: TableLake) -> Migrated:
    """Commit every old partition into its Iceberg table, then remove the old trees."""
    old = legacy_partitions(layout)
    rows = 0
    for table, licensor, day, path in old:
        commit = tables.replace_partition_file(table, licensor, day, path)  # type: ignore[arg-type]
        rows += commit.rows
    removed = []
    for table in TABLES_BY_NAME:  # only after every commit: a failure leaves the old lake whole
        for licensor_dir in sorted(layout.lake_table(table).glob("licensor=*")):
            shutil.rmtree(licensor_dir)
            removed.append(str(licensor_dir.relative_to(layout.data_dir)))
    for name in LEGACY_TREES:
        if (layout.data_dir / name).is_dir():
            shutil.rmtree(layout.data_dir / name)
            removed.append(name)
    for name in LEGACY_FILES:
        if (layout.data_dir / name).is_file():
            (layout.data_dir / name).unlink()
            removed.append(name)
    return Migrated(len(old), rows, tuple(removed))
