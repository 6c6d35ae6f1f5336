"""Small helpers shared by warehouse tests."""

from __future__ import annotations

import hashlib
from pathlib import Path

from pipeline.layout import Layout
from pipeline.warehouse.catalog import open_catalog
from pipeline.warehouse.models import discover_models

MARTS = tuple(m for m in discover_models() if m.materialized)
ROLLING = frozenset(m.name for m in MARTS if m.rolling_days > 1)  # later days' rows read the window
# Empty on a lake without artificial streaming (no listener looks like a bot there).
QUIET_MARTS = frozenset({"fct_suspicious_listeners"})


def filled(fingerprints: dict[str, tuple[int, int]]) -> bool:
    """Every mart has rows, except those empty by design on genuine data."""
    return all(rows > 0 for name, (rows, _) in fingerprints.items() if name not in QUIET_MARTS)


def file_states(root: Path) -> dict[str, tuple[int, int]]:
    """(inode, mtime_ns) of every Parquet file under `root`, by relative path."""
    return {
        str(p.relative_to(root)): (p.stat().st_ino, p.stat().st_mtime_ns)
        for p in sorted(root.rglob("*.parquet"))
    }


def file_hashes(root: Path) -> dict[str, str]:
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*.parquet"))
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
