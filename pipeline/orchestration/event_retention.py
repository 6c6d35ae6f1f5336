"""Retention for Dagster's storage: nothing keyed by an expired partition of a personal table stays.

The rule (README, "Personal data"): aggregates may outlive retention; nothing keyed by a personal
table's partition may, nor any preview, sample or compute log of one. Materialization metadata
(previews), check results (samples), log messages and captured stdout/stderr of a partition live in
Dagster's storage, not in the lake, so when retention deletes a day the runs that loaded or built it
go too, with everything Dagster keeps about them:

- the run, its tags and its event records (`DagsterInstance.delete_run`);
- its captured compute logs (`ComputeLogManager.delete_logs`);
- its asset check executions and the cached latest materialization of an asset when it was one of
  these runs: `delete_run` leaves both, and Dagster has no public call that removes them for some
  partitions only (`wipe_asset_partitions` is not implemented for SQL storage; `wipe_assets`
  would drop the whole history of the asset), hence `_forget_run_rows`.

Runs are matched by their partition tag (`date|licensor`, or a date) or, for the warehouse's range
runs, the range's end. Every run of an expired day goes, whichever asset it materialized: deleting
an aggregate's run early loses only its history in the UI, never data.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date

import dagster as dg

PARTITION_TAG = "dagster/partition"
RANGE_END_TAG = "dagster/asset_partition_range_end"


@dataclass(frozen=True)
class Purged:
    """What retention removed from Dagster's storage (or would, on a dry run)."""

    runs: tuple[str, ...]
    check_executions: int = 0  # asset check execution rows of those runs
    cached_latest: int = 0  # assets whose cached latest materialization was one of those runs


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


def purge_expired(instance: dg.DagsterInstance, cutoff: date, *, dry_run: bool = False) -> Purged:
    """Delete (unless `dry_run`) every expired run with all Dagster keeps about it."""
    runs = expired_runs(instance, cutoff)
    if dry_run or not runs:
        return Purged(tuple(runs))
    for run_id in runs:
        instance.delete_run(run_id)
        instance.compute_log_manager.delete_logs(prefix=[run_id])
    checks, cached = _forget_run_rows(instance, runs)
    return Purged(tuple(runs), checks, cached)


def prune_runs(instance: dg.DagsterInstance, cutoff: date, *, dry_run: bool = False) -> list[str]:
    """`purge_expired`, returning the ids of the runs it removed."""
    return list(purge_expired(instance, cutoff, dry_run=dry_run).runs)


def _forget_run_rows(instance: dg.DagsterInstance, run_ids: Sequence[str]) -> tuple[int, int]:
    """Delete the asset check executions of deleted runs, and reset an asset's cached latest
    materialization when it came from one; (check rows deleted, assets reset).

    Raw SQL on the event log storage's documented tables (`asset_check_executions`, `asset_keys`),
    because `delete_run` leaves these rows and no public Dagster API removes them for some runs
    only. A reset cache is what Dagster itself falls back from: with `last_materialization` null it
    reads the latest materialization left in the event log, and recomputes `cached_status_data`.
    """
    import sqlalchemy as sa

    storage = instance.event_log_storage
    ids = list(run_ids)
    with storage.index_connection() as conn:  # type: ignore[attr-defined]
        checks = conn.execute(
            sa.text("DELETE FROM asset_check_executions WHERE run_id IN :ids").bindparams(
                sa.bindparam("ids", expanding=True)
            ),
            {"ids": ids},
        ).rowcount
        cached = conn.execute(
            sa.text(
                "UPDATE asset_keys SET last_materialization = NULL, last_run_id = NULL, "
                "cached_status_data = NULL WHERE last_run_id IN :ids"
            ).bindparams(sa.bindparam("ids", expanding=True)),
            {"ids": ids},
        ).rowcount
    return int(checks or 0), int(cached or 0)
