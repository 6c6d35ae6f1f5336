"""How a warehouse build may run: what the schedules re-pull, and DuckDB's memory and threads."""

from __future__ import annotations

from dataclasses import dataclass, field

import duckdb

from pipeline.config import DEFAULT_LOOKBACK_DAYS, DEFAULT_READER_GRACE_SECONDS, RiskSettings, Settings
from pipeline.risk.thresholds import set_thresholds
from pipeline.warehouse.quoting import quote_literal


@dataclass(frozen=True)
class WarehouseOptions:
    """`lookback_days` is the daily schedules' look-back: those newest days are rewritten by every
    daily build, so the accumulated dimension state keeps them out of its base. `memory_limit`
    (DuckDB syntax, e.g. "1GB"; empty = DuckDB's default) and `threads` (0 = DuckDB's default) bound
    every warehouse connection; past the limit DuckDB spills to the data directory's temp space.
    `reconcile_tolerance`: the share by which an aggregated count may differ from its stream rows
    (0: exact; see `reconcile.py`)."""

    lookback_days: int = DEFAULT_LOOKBACK_DAYS
    memory_limit: str = ""
    threads: int = 0
    reconcile_tolerance: float = 0.0
    risk: RiskSettings = field(default_factory=RiskSettings)  # thresholds the risk models read
    # How long a reader of an earlier `warehouse.duckdb` keeps its files: snapshots superseded for
    # longer (and no longer published) are expired, and their files deleted, after a build
    # (SPOTIFY_BULK_READER_GRACE_SECONDS: longer for analysts who keep a session open all day).
    reader_grace_seconds: float = DEFAULT_READER_GRACE_SECONDS

    @property
    def tail_days(self) -> int:
        """Newest days kept out of an accumulator's base: the look-back plus the day itself."""
        return max(self.lookback_days, 0) + 1

    @classmethod
    def from_settings(cls, settings: Settings) -> WarehouseOptions:
        """The options every command and Dagster step derives from the settings (one mapping)."""
        return cls(
            settings.lookback_days,
            settings.duckdb_memory_limit,
            settings.duckdb_threads,
            settings.reconcile_tolerance,
            settings.risk,
            settings.reader_grace_seconds,
        )

    def duckdb_config(self) -> dict[str, str]:
        """The limits as a `duckdb.connect` config (read-only connections cannot `SET` after)."""
        config = {"memory_limit": self.memory_limit} if self.memory_limit else {}
        return config | ({"threads": str(int(self.threads))} if self.threads > 0 else {})

    def apply(self, con: duckdb.DuckDBPyConnection) -> None:
        """Bound an open connection (the build's in-memory one) the same way."""
        for name, value in self.duckdb_config().items():
            con.execute(f"SET {name} = {quote_literal(value)}")
        set_thresholds(con, self.risk)
