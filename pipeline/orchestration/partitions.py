"""Dagster partitions: daily dates x licensors, built from settings (never read at import)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import dagster as dg

DATE, LICENSOR = "date", "licensor"


@dataclass(frozen=True)
class Partitions:
    """The partition definitions every asset, job and schedule of one definitions object shares."""

    dates: dg.DailyPartitionsDefinition
    licensors: dg.StaticPartitionsDefinition
    reports: dg.MultiPartitionsDefinition
    licensor_names: tuple[str, ...]
    start_date: date


def build_partitions(licensors: tuple[str, ...], start_date: date) -> Partitions:
    dates = dg.DailyPartitionsDefinition(start_date=start_date.isoformat(), timezone="UTC")
    by_licensor = dg.StaticPartitionsDefinition(list(licensors))
    return Partitions(
        dates=dates,
        licensors=by_licensor,
        reports=dg.MultiPartitionsDefinition({DATE: dates, LICENSOR: by_licensor}),
        licensor_names=licensors,
        start_date=start_date,
    )


def date_range_tags(start: date, end: date) -> dict[str, str]:
    """Run tags that give a run the date partitions `start`..`end` (one run: single-run backfills)."""
    return {
        "dagster/asset_partition_range_start": start.isoformat(),
        "dagster/asset_partition_range_end": end.isoformat(),
    }


def partition_key(licensor: str, day: date) -> dg.MultiPartitionKey:
    return dg.MultiPartitionKey({DATE: day.isoformat(), LICENSOR: licensor})


def partition_parts(key: dg.MultiPartitionKey | str) -> tuple[str, date]:
    """(licensor, day) of a date x licensor partition key (a key object or its `date|licensor` string)."""
    if isinstance(key, dg.MultiPartitionKey):
        dims = key.keys_by_dimension
        return dims[LICENSOR], date.fromisoformat(dims[DATE])
    day, licensor = key.split("|", 1)  # dimensions are ordered by name: date, then licensor
    return licensor, date.fromisoformat(day)
