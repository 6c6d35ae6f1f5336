"""Small helpers shared by warehouse tests."""

from __future__ import annotations

import hashlib
from datetime import date
from pathlib import Path

from pipeline.layout import Layout
from pipeline.warehouse.catalog import open_catalog
from pipeline.warehouse.models import discover_models
from pipeline.warehouse.paths import WarehousePaths

MARTS = tuple(m for m in discover_models() if m.materialized)
ROLLING = frozenset(m.name for m in MARTS if m.rolling_days > 1)  # later days' rows read the window
# Empty on a lake without artificial streaming (no listener looks like a bot there).
QUIET_MARTS = frozenset({"fct_suspicious_listeners"})
# Tracks whose demographic streams differ from their stream rows (0: every stream counted once).
DEMOGRAPHIC_STREAMS_MISMATCH = (
    "SELECT count(*) FROM "
    "(SELECT track_id, sum(streams) AS s FROM fct_track_demographics GROUP BY 1) d "
    "FULL JOIN (SELECT track_id, count(*) AS s FROM stg_streams GROUP BY 1) r USING (track_id) "
    "WHERE d.s IS DISTINCT FROM r.s"
)


def filled(fingerprints: dict[str, tuple[int, int]]) -> bool:
    """Every mart has rows, except those empty by design on genuine data."""
    return all(rows > 0 for name, (rows, _) in fingerprints.items() if name not in QUIET_MARTS)


def _partition_name(model: str, licensor: str, day: date) -> str:
    return model if licensor == "" else f"{model}/licensor={licensor}/date={day:%Y-%m-%d}"


def file_states(layout: Layout) -> dict[str, tuple[str, ...]]:
    """The data files of every mart partition at the marts' current snapshots, by
    `model/licensor=…/date=…` (a rewritten partition has new files: Iceberg never writes in place)."""
    marts = WarehousePaths(layout).marts
    return {
        _partition_name(model, licensor, day): tuple(files)
        for model in marts.table_names()
        for (licensor, day), files in marts.files(model).items()
    }


def file_hashes(layout: Layout) -> dict[str, str]:
    """A digest of the bytes of every mart partition's data files, by partition."""
    return {
        name: hashlib.sha256(b"".join(Path(f).read_bytes() for f in files)).hexdigest()
        for name, files in file_states(layout).items()
    }


def mart_fingerprints(layout: Layout) -> dict[str, tuple[int, int]]:
    """Row count and an order-independent content checksum of every mart, read through the catalog."""
    con = open_catalog(layout.warehouse_path)
    try:
        out = {}
        for model in MARTS:
            row = con.execute(f"SELECT count(*), coalesce(sum(hash(t)), 0) FROM {model.name} AS t").fetchone()
            out[model.name] = (int(row[0]), int(row[1]))
        return out
    finally:
        con.close()
