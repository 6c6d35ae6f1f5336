"""How a warehouse build may run: what the schedules re-pull, and DuckDB's memory and threads."""

from __future__ import annotations

from dataclasses import dataclass

DEFAULT_LOOKBACK_DAYS = 3


@dataclass(frozen=True)
class WarehouseOptions:
    """`lookback_days` is the daily schedules' look-back: those newest days are rewritten by every
    daily build, so the accumulated dimension state keeps them out of its base. `memory_limit`
    (DuckDB syntax, e.g. "1GB"; empty = DuckDB's default) and `threads` (0 = DuckDB's default) bound
    every warehouse connection; past the limit DuckDB spills to the data directory's temp space."""

    lookback_days: int = DEFAULT_LOOKBACK_DAYS
    memory_limit: str = ""
    threads: int = 0

    @property
    def tail_days(self) -> int:
        """Newest days kept out of an accumulator's base: the look-back plus the day itself."""
        return max(self.lookback_days, 0) + 1
