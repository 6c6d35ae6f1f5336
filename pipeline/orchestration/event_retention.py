"""Retention for Dagster's storage: runs (and their event records) of expired partitions.

Materialization metadata, check results and logs of a partition live in Dagster's event storage,
not in the lake: when retention deletes a day, the runs that loaded or built it go too, so nothing
about that day (previews, samples, messages) outlives the window. Runs are matched by their
partition tag (`date|licensor`, or a date) or, for the warehouse's range runs, the range's end.
"""

from __future__ import annotations

from datetime import date

import dagster as dg

PARTITION_TAG = "dagster/partition"
RANGE_END_TAG = "dagster/asset_partition_range_end"


def run_day(tags: dict[str, str]) -> date | None:
    """The newest day a run's partition tags name, or None (an unpartitioned run)."""
    for value in (tags.get(RANGE_END_TAG), tags.get(PARTITION_TAG)):
        for part in (value or "").split("|"):
            try:
                return date.fromisoformat(part[:10])
            except ValueError:
                continue
    return None


def expired_runs(instance: dg.DagsterInstance, cutoff: date) -> list[str]:
    """Ids of the finished runs whose partition is dated before `cutoff`."""
    found = []
    for record in instance.get_run_records():
        run = record.dagster_run
        day = run_day(dict(run.tags))
        if day is not None and day < cutoff and run.is_finished:
            found.append(run.run_id)
    return found


def prune_runs(instance: dg.DagsterInstance, cutoff: date, *, dry_run: bool = False) -> list[str]:
    """Delete (unless `dry_run`) every expired run with its event records; returns their ids."""
    runs = expired_runs(instance, cutoff)
    if not dry_run:
        for run_id in runs:
            instance.delete_run(run_id)
    return runs
