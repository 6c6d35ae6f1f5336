"""Bench inputs: emulator-generated licensor-days, cached outside the repo and reused across runs."""

from __future__ import annotations

import datetime
from dataclasses import dataclass
from pathlib import Path

from pipeline.emulator import EmulatorConfig
from pipeline.emulator.running import RunningEmulator

LICENSOR = "acme"
TODAY = datetime.date(2026, 6, 15)
DAY = datetime.date(2026, 6, 12)  # available: before TODAY - lag_days


@dataclass(frozen=True)
class BenchDay:
    """The streams files of one generated licensor-day (one gzip NDJSON file per country)."""

    rows_per_day: int  # streams + sub-30 rows the emulator generated for the day
    files: tuple[Path, ...]
    streams: int  # rows in `files`
    derived_from: int | None = None  # generated size this day repeats, if not generated itself

    @property
    def compressed_bytes(self) -> int:
        return sum(f.stat().st_size for f in self.files)


def emulator_config(rows_per_day: int, workdir: Path) -> EmulatorConfig:
    """The same config for generating and for serving, so the e2e run hits the warm cache."""
    return EmulatorConfig(
        rows_per_day=rows_per_day,
        licensors=(LICENSOR,),
        today=TODAY,
        cache_dir=workdir / "emulator-cache",
    )


def ensure_day(rows_per_day: int, workdir: Path, *, generate_max: int | None = None) -> BenchDay:
    """Generate the day through the emulator's cache (once; ~100k rows/s) and list its files.

    Past `generate_max` rows the day is derived from the largest generated size that divides it:
    each country file repeated as a multi-member gzip (valid gzip; the rows repeat), because
    generating 16 M rows takes the emulator ~45 min on a loaded 2-core machine.
    """
    if generate_max is not None and rows_per_day > generate_max:
        return _derived_day(rows_per_day, workdir, generate_max)
    with RunningEmulator(emulator_config(rows_per_day, workdir)) as emulator:
        emulator.warm([DAY])
        spec, faults = emulator.bulk.spec(LICENSOR, DAY)
        cached = emulator.cache.get(spec, faults)
        files = tuple(cached.file("streams", c) for c in sorted(cached.countries("streams")))
        return BenchDay(rows_per_day, files, cached.expected["streams"])


def _derived_day(rows_per_day: int, workdir: Path, generate_max: int) -> BenchDay:
    base_rows = max(r for r in range(1, generate_max + 1) if rows_per_day % r == 0 and r % 1_000_000 == 0)
    base = ensure_day(base_rows, workdir)
    copies = rows_per_day // base_rows
    target = workdir / f"derived-r{rows_per_day}-from-r{base_rows}"
    if not (target / ".complete").exists():
        target.mkdir(parents=True, exist_ok=True)
        for source in base.files:
            content = source.read_bytes()
            with open(target / source.name, "wb") as out:
                for _ in range(copies):
                    out.write(content)
        (target / ".complete").touch()
    files = tuple(target / f.name for f in base.files)
    return BenchDay(rows_per_day, files, base.streams * copies, derived_from=base_rows)
