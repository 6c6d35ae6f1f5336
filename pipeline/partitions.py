"""Dagster partitions: daily dates x licensors. Licensors come from `SPOTIFY_LICENSORS`."""

from __future__ import annotations

import os
from datetime import date

import dagster as dg

from pipeline.settings import DEMO_LICENSORS, parse_licensors

DEFAULT_START_DATE = "2025-01-01"


def configured_licensors() -> tuple[str, ...]:
    """Licensors named by `SPOTIFY_LICENSORS`, or the emulator's demo licensors when unset."""
    return parse_licensors(os.environ.get("SPOTIFY_LICENSORS")) or DEMO_LICENSORS


def partition_start_date() -> str:
    """The first day backfills may reach (`SPOTIFY_BULK_START_DATE`, default 2025-01-01)."""
    raw = os.environ.get("SPOTIFY_BULK_START_DATE") or DEFAULT_START_DATE
    return date.fromisoformat(raw).isoformat()


date_partitions = dg.DailyPartitionsDefinition(start_date=partition_start_date(), timezone="UTC")
licensor_partitions = dg.StaticPartitionsDefinition(list(configured_licensors()))
report_partitions = dg.MultiPartitionsDefinition({"date": date_partitions, "licensor": licensor_partitions})


def partition_key(licensor: str, day: date) -> dg.MultiPartitionKey:
    return dg.MultiPartitionKey({"date": day.isoformat(), "licensor": licensor})


def partition_parts(key: dg.MultiPartitionKey | str) -> tuple[str, date]:
    """(licensor, day) of a date x licensor partition key."""
    if not isinstance(key, dg.MultiPartitionKey):
        key = report_partitions.get_partition_key_from_str(key)
    dims = key.keys_by_dimension
    return dims["licensor"], date.fromisoformat(dims["date"])
