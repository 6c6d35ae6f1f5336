"""Run the Dagster load job for a set of date x licensor partitions, the way the CLI needs it.

Each partition is one run of `bulk_reports_job` on the persistent instance (so it shows in the UI),
executed in this process; the outcome is summarized per partition with a clear error on failure.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date

import dagster as dg

from pipeline.partitions import partition_key
from pipeline.reports import ReportSpec

JOB_NAME = "bulk_reports_job"


@dataclass(frozen=True)
class PartitionRun:
    """The outcome of one partition's run."""

    licensor: str
    day: date
    run_id: str
    success: bool
    seconds: float
    rows: dict[str, int] = field(default_factory=dict)
    not_available: tuple[str, ...] = ()
    error: str | None = None


_OUR_ERRORS = ("LoadFailed", "Failure")


def _root_cause(error: object) -> str:
    """The message that explains the failure: ours if present, else the innermost one.

    Dagster wraps user errors ("Error occurred while executing op ..."); the load's own error
    already names the report, licensor, date and cause.
    """
    chain = [error]
    while getattr(chain[-1], "cause", None) is not None:
        chain.append(chain[-1].cause)  # type: ignore[attr-defined]
    node = next((n for n in chain if getattr(n, "cls_name", None) in _OUR_ERRORS), chain[-1])
    message = (getattr(node, "message", "") or "").strip()
    cls_name = getattr(node, "cls_name", None) or "Error"
    return message.removeprefix(f"{cls_name}: ").removeprefix("dagster._core.definitions.events.Failure: ")


def _summarize(
    result: dg.ExecuteInProcessResult, reports: Sequence[ReportSpec], licensor: str, day: date, seconds: float
) -> PartitionRun:
    rows: dict[str, int] = {}
    for event in result.get_asset_materialization_events():
        materialization = event.materialization
        value = materialization.metadata.get("dagster/row_count")
        rows[materialization.asset_key.to_user_string()] = int(getattr(value, "value", 0) or 0)
    not_available = tuple(r.name for r in reports if not any(t.name in rows for t in r.tables))
    errors = [_root_cause(e.step_failure_data.error) for e in result.get_step_failure_events()]
    return PartitionRun(
        licensor=licensor,
        day=day,
        run_id=result.run_id,
        success=result.success,
        seconds=seconds,
        rows=rows,
        not_available=() if errors else not_available,
        error="; ".join(dict.fromkeys(errors)) or (None if result.success else "run failed"),
    )


def run_partitions(
    defs: dg.Definitions,
    instance: dg.DagsterInstance,
    *,
    licensors: Sequence[str],
    days: Iterable[date],
    reports: Sequence[ReportSpec],
    on_result: Callable[[PartitionRun], None] | None = None,
    log_level: str = "WARNING",
) -> list[PartitionRun]:
    """Materialize the reports' assets for every (day, licensor), one run per partition."""
    job = defs.resolve_job_def(JOB_NAME)
    selection = [dg.AssetKey(t.name) for r in reports for t in r.tables]
    outcomes = []
    for day in days:
        for licensor in licensors:
            started = time.monotonic()
            result = job.execute_in_process(
                instance=instance,
                partition_key=str(partition_key(licensor, day)),
                asset_selection=selection,
                raise_on_error=False,
                run_config={"loggers": {"console": {"config": {"log_level": log_level}}}},
                tags={"spotify/launched_by": "cli"},
            )
            outcome = _summarize(result, reports, licensor, day, time.monotonic() - started)
            outcomes.append(outcome)
            if on_result:
                on_result(outcome)
    return outcomes
