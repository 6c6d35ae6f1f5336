"""Where things live under the data directory. The layout is a public interface (see design.md).

Every path under the data directory is built here, from validated names only, so nothing a remote
server or a user types can point a write outside the data directory.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from pathlib import Path

_SAFE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$")


class UnsafeName(ValueError):
    """A name that cannot be one path segment (a '/', '..', or odd characters): hostile or a typo."""


def safe_name(value: str, *, what: str) -> str:
    """Return `value` if it is usable as one path segment, else raise `UnsafeName` naming `what`."""
    if not _SAFE_NAME.fullmatch(value) or value in {".", ".."} or ".." in value:
        raise UnsafeName(
            f"invalid {what} {value!r}: use letters, digits, '_', '-' or '.', "
            "starting with a letter or digit, no '..' and no '/'"
        )
    return value


@dataclass(frozen=True)
class Layout:
    """The data directory's layout: archive, lake, rejects, staging and locks."""

    data_dir: Path

    @property
    def archive_root(self) -> Path:
        return self.data_dir / "archive"

    @property
    def lake_root(self) -> Path:
        """The Iceberg tables' data and metadata (report, Web API catalog and mart tables)."""
        return self.data_dir / "lake"

    @property
    def catalog_db(self) -> Path:
        """The SQLite Iceberg catalog, unless a PostgreSQL URI is configured."""
        return self.data_dir / "catalog.db"

    @property
    def staging_root(self) -> Path:
        """Scratch space on the same filesystem, outside the lake, for atomic renames."""
        return self.data_dir / ".staging"

    @property
    def locks_root(self) -> Path:
        return self.data_dir / ".locks"

    @property
    def warehouse_path(self) -> Path:
        return self.data_dir / "warehouse.duckdb"

    def archive_partition(self, report: str, licensor: str, day: date) -> Path:
        return self._partition(self.archive_root, report, licensor, day)

    def lake_table(self, table: str) -> Path:
        return self.lake_root / safe_name(table, what="table")

    def rejects_partition(self, report: str, licensor: str, day: date) -> Path:
        return self._partition(self.data_dir / "rejects", report, licensor, day)

    def ledger_partition(self, report: str, licensor: str, day: date) -> Path:
        """Where the last load outcome of a report-day is recorded (see pipeline/ingest/ledger.py)."""
        return self._partition(self.data_dir / "ledger", report, licensor, day)

    def lock_path(self, kind: str, licensor: str, day: date) -> Path:
        kind = safe_name(kind, what="lock kind")
        licensor = safe_name(licensor, what="licensor")
        return self.locks_root / f"{kind}-{licensor}-{day:%Y-%m-%d}.lock"

    @staticmethod
    def _partition(root: Path, name: str, licensor: str, day: date) -> Path:
        return (
            root
            / safe_name(name, what="table")
            / f"licensor={safe_name(licensor, what='licensor')}"
            / f"date={day:%Y-%m-%d}"
        )


def partition_dirs(root: Path) -> list[tuple[str, date, Path]]:
    """(licensor, date, directory) of every `licensor=*/date=*` folder under `root` (the archive,
    the rejects and the ledger keep that layout), sorted; none when `root` is absent."""
    found = []
    for licensor_dir in sorted(root.glob("licensor=*")):
        for date_dir in sorted(licensor_dir.glob("date=*")):
            try:
                day = date.fromisoformat(date_dir.name.split("=", 1)[1])
            except ValueError:
                continue
            found.append((licensor_dir.name.split("=", 1)[1], day, date_dir))
    return found
