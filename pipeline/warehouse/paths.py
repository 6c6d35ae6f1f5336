"""Where the warehouse lives under the data directory (beside the lake, same filesystem).

`marts/` is public (Hive-partitioned Parquet any engine can read); `.warehouse/` is internal: the
immutable snapshots the published catalog points at, and the dimensions' accumulated state.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import date
from pathlib import Path

from pipeline.layout import Layout, safe_name


@dataclass(frozen=True)
class WarehousePaths:
    """Paths of marts, snapshots, the catalog and the build lock for one data directory."""

    layout: Layout

    @property
    def marts_root(self) -> Path:
        return self.layout.data_dir / "marts"

    @property
    def snapshots_root(self) -> Path:
        return self.layout.data_dir / ".warehouse" / "snapshots"

    @property
    def mart_versions_root(self) -> Path:
        """Every version of a mart file a catalog may read, hard-linked once (see snapshot.py)."""
        return self.layout.data_dir / ".warehouse" / "mart-versions"

    @property
    def accumulators_root(self) -> Path:
        """The state behind incrementally built dimensions (see pipeline/warehouse/accumulate.py)."""
        return self.layout.data_dir / ".warehouse" / "accumulators"

    @property
    def current_pointer(self) -> Path:
        """A small file naming the snapshot the published catalog reads (garbage collection spares it)."""
        return self.layout.data_dir / ".warehouse" / "CURRENT"

    @property
    def catalog_path(self) -> Path:
        return self.layout.warehouse_path

    @property
    def lock_path(self) -> Path:
        return self.layout.locks_root / "warehouse.lock"

    @property
    def staging_root(self) -> Path:
        return self.layout.staging_root

    def mart_dir(self, model: str) -> Path:
        return self.marts_root / safe_name(model, what="model")

    def mart_partition(self, model: str, licensor: str, day: date) -> Path:
        return (
            self.mart_dir(model) / f"licensor={safe_name(licensor, what='licensor')}" / f"date={day:%Y-%m-%d}"
        )


def hive_value(path: Path) -> str:
    """The value of a `key=value` directory name."""
    return path.name.split("=", 1)[1]


def _hive_children(directory: Path, key: str) -> list[tuple[str, Path]]:
    """(value, path) of the `key=value` entries of `directory`, sorted; none if it is not a directory."""
    try:
        with os.scandir(directory) as entries:
            found = sorted((e.name, e.path) for e in entries if e.name.startswith(f"{key}="))
    except (FileNotFoundError, NotADirectoryError):
        return []
    return [(name.split("=", 1)[1], Path(path)) for name, path in found]


def partition_dirs(table_root: Path) -> list[tuple[str, date, Path]]:
    """(licensor, date, directory) of every `licensor=*/date=*` partition under `table_root`."""
    found = []
    for licensor, licensor_dir in _hive_children(table_root, "licensor"):
        for value, date_dir in _hive_children(licensor_dir, "date"):
            try:
                day = date.fromisoformat(value)
            except ValueError:
                continue
            found.append((licensor, day, date_dir))
    return found
