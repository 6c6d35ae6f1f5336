"""Where the warehouse lives under the data directory, and the Iceberg tables it reads and writes.

The lake's tables (namespace `lake`), the marts (`marts`) and the dimensions' accumulated state
(`accumulators`) are Iceberg tables in the data directory's catalog (`catalog.db`, or PostgreSQL /
object storage when configured); the published catalog `warehouse.duckdb` names the data files of
the snapshots a build pinned.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from pathlib import Path

from pipeline.config import tables_for
from pipeline.layout import Layout
from pipeline.storage.tables import TableLake

MARTS = "marts"  # the Iceberg namespace of the marts
ACCUMULATORS = "accumulators"  # the namespace of the state behind incrementally built dimensions


@dataclass(frozen=True)
class WarehousePaths:
    """The catalog file, the build lock and the tables of one data directory.

    `tables`: the lake's Iceberg tables (default: the data directory's own catalog and `lake/`).
    """

    layout: Layout
    tables: TableLake | None = field(default=None, compare=False)

    @functools.cached_property
    def lake(self) -> TableLake:
        """The lake's tables, opened once for these paths (a build's): a lake on a configured
        catalog is a new connection each time it is opened, and the marts' and accumulators'
        siblings share what it remembers of snapshots only through one lake."""
        return self.tables if self.tables is not None else tables_for(self.layout.data_dir)

    @property
    def marts(self) -> TableLake:
        return self.lake.sibling(MARTS)

    @property
    def accumulators(self) -> TableLake:
        """The state behind incrementally built dimensions (see pipeline/warehouse/accumulate.py)."""
        return self.lake.sibling(ACCUMULATORS)

    @property
    def catalog_path(self) -> Path:
        return self.layout.warehouse_path

    @property
    def lock_path(self) -> Path:
        return self.layout.locks_root / "warehouse.lock"

    @property
    def staging_root(self) -> Path:
        return self.layout.staging_root
