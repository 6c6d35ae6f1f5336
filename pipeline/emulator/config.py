"""How an emulator run is configured."""

from __future__ import annotations

import datetime
from dataclasses import dataclass, field
from pathlib import Path

from pipeline.emulator.faults import FaultPlan
from pipeline.layout import safe_name


@dataclass(frozen=True)
class EmulatorConfig:
    """Everything that determines what the emulator serves.

    `rows_per_day` is the number of stream rows (streams + sub-30) per licensor-day. `today=None`
    follows the real UTC date; tests pin it. Days after `today - lag_days` and before
    `today - history_days` are not available. `cache_dir=None` uses a temporary directory removed
    when the emulator stops.
    """

    seed: int = 42
    rows_per_day: int = 2000
    licensors: tuple[str, ...] = ("acme", "globex")
    client_id: str = "emulator-client"
    client_secret: str = "emulator-secret"  # noqa: S105 - the emulator's public demo credential
    lag_days: int = 1
    today: datetime.date | None = None
    history_days: int = 400
    cache_dir: Path | None = None
    faults: FaultPlan = field(default_factory=FaultPlan)

    def __post_init__(self) -> None:
        for name in self.licensors:
            safe_name(name, what="licensor")
        if self.rows_per_day < 1:
            raise ValueError("rows_per_day must be at least 1")
        if self.lag_days < 0 or self.history_days < self.lag_days:
            raise ValueError("need 0 <= lag_days <= history_days")

    def current_day(self) -> datetime.date:
        return self.today or datetime.datetime.now(datetime.UTC).date()

    def available(self) -> tuple[datetime.date, datetime.date]:
        """The first and last day the Bulk API serves, today."""
        today = self.current_day()
        return today - datetime.timedelta(days=self.history_days), today - datetime.timedelta(
            days=self.lag_days
        )

    def padded(self, licensor: str) -> bool:
        """Whether listings zero-pad month and day for this licensor (every other licensor does not)."""
        return self.licensors.index(licensor) % 2 == 0
