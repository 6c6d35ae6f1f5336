"""Run the Dagster load job for a set of date x licensor partitions, the way the CLI needs it.

Each partition is one run of `bulk_reports_job` on the persistent instance (so it shows in the UI),
executed in this process; the outcome is summarized per partition with a clear error on failure.
"""

from __future__ import annotations

import multiprocessing
import os
import re
import time
import warnings
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from dataclasses import dataclass, field
from datetime import date

import dagster as dg

from pipeline.config import Settings
from pipeline.orchestration.instance import open_instance
from pipeline.orchestration.partitions import partition_key
from pipeline.reports import ReportSpec, report_by_name

JOB_NAME = "bulk_reports_job"
RESUME_AFTER = "resume_after"  # failure metadata: the UTC time Spotify asked us to wait until
RunResult = dg.ExecuteInProcessResult | dg.JobExecutionResult
CLI_TAGS = {"spotify/launched_by": "cli"}


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
    empty_files: tuple[str, ...] = ()  # files that held no data (a day or country without streams)
    error: str | None = None
    resume_after: str | None = None  # Spotify asked to wait until then (a quota ban): stop for now


_OUR_ERRORS = ("LoadFailed", "Failure")


def failure_reason(error: object) -> str:
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
    # "pipeline.ingest.load.LoadFailed: ..." -> "...": the class says nothing the message does not
    return re.sub(rf"^([\w.]+\.)?{re.escape(cls_name)}: ", "", message)


def run_error(result: RunResult) -> str | None:
    """Why a run failed, one reason per failed step (None when it succeeded)."""
    errors = [failure_reason(e.step_failure_data.error) for e in result.get_step_failure_events()]
    return "; ".join(dict.fromkeys(errors)) or (None if result.success else "run failed")


def resume_after(result: RunResult) -> str | None:
    """The latest `resume_after` a failed step carries, if Spotify asked the run to wait."""
    times = []
    for event in result.get_step_failure_events():
        user = event.step_failure_data.user_failure_data
        value = getattr(user.metadata.get(RESUME_AFTER), "value", None) if user else None
        if isinstance(value, str):
            times.append(value)
    return max(times, default=None)


def _summarize(
    result: RunResult,
    reports: Sequence[ReportSpec],
    licensor: str,
    day: date,
    seconds: float,
) -> PartitionRun:
    rows: dict[str, int] = {}
    empty: dict[str, None] = {}  # the report's empty files, once though each of its tables names them
    for event in result.get_asset_materialization_events():
        materialization = event.materialization
        value = materialization.metadata.get("dagster/row_count")
        rows[materialization.asset_key.to_user_string()] = int(getattr(value, "value", 0) or 0)
        names = getattr(materialization.metadata.get("empty_files"), "value", None)
        empty.update(dict.fromkeys(str(n) for n in names or ()))
    not_available = tuple(r.name for r in reports if not any(t.name in rows for t in r.tables))
    error = run_error(result)
    return PartitionRun(
        licensor=licensor,
        day=day,
        run_id=result.run_id,
        success=result.success,
        seconds=seconds,
        rows=rows,
        not_available=() if error else not_available,
        empty_files=tuple(empty),
        error=error,
        resume_after=resume_after(result),
    )


def console_logs(log_level: str) -> dict[str, object]:
    """The run config that sets Dagster's console log level (the CLI shows step logs only when asked)."""
    return {"loggers": {"console": {"config": {"log_level": log_level}}}}


def _run_one(
    defs: dg.Definitions,
    instance: dg.DagsterInstance,
    licensor: str,
    day: date,
    reports: Sequence[ReportSpec],
    log_level: str,
    *,
    distributed: bool = False,
) -> PartitionRun:
    assets = [dg.AssetKey(t.name) for r in reports for t in r.tables]
    key = str(partition_key(licensor, day))
    run_config = console_logs(log_level)
    started = time.monotonic()
    if distributed:
        result: RunResult = _execute_distributed(defs, instance, key, assets, run_config)
    else:
        job = defs.resolve_job_def(JOB_NAME)
        result = job.execute_in_process(
            run_config, instance=instance, partition_key=key, raise_on_error=False, tags=CLI_TAGS,
            asset_selection=assets,
        )  # fmt: skip
    return _summarize(result, reports, licensor, day, time.monotonic() - started)


def _execute_distributed(
    defs: dg.Definitions,
    instance: dg.DagsterInstance,
    key: str,
    assets: list[dg.AssetKey],
    run_config: dict[str, object],
) -> dg.JobExecutionResult:
    """A run through the definitions' executor (Celery): the workers reload the job from its module
    pointer, so they need the same settings in their environment."""
    from dagster._core.definitions.reconstruct import ReconstructableRepository

    tags = defs.resolve_job_def(JOB_NAME).get_tags_for_partition_key(key, assets)
    repository = ReconstructableRepository.for_module("pipeline.definitions", "defs", os.getcwd())
    with warnings.catch_warnings():  # the job is reloaded per run: its beta notices, each time
        warnings.simplefilter("ignore", dg.BetaWarning)
        warnings.filterwarnings("ignore", "Task name 'execute_plan' is already registered")  # dagster-celery
        return dg.execute_job(
            repository.get_reconstructable_job(JOB_NAME),
            instance,
            run_config=run_config,
            tags={**tags, **CLI_TAGS},
            asset_selection=assets,
        )


_WORKER: tuple[dg.Definitions, dg.DagsterInstance] | None = None
DefinitionsFactory = Callable[[Settings], dg.Definitions]


def _start_worker(settings: Settings, definitions: DefinitionsFactory) -> None:
    """Definitions and instance of a worker process, built once per process from the parent's settings
    (`definitions` is the caller's factory, pickled by reference: this layer never imports it)."""
    global _WORKER
    _WORKER = (definitions(settings), open_instance(settings))


def _worker_run(licensor: str, day: date, report_names: tuple[str, ...], log_level: str) -> PartitionRun:
    if _WORKER is None:
        raise RuntimeError("worker process started without settings")
    defs, instance = _WORKER
    return _run_one(defs, instance, licensor, day, [report_by_name(n) for n in report_names], log_level)


def run_partitions(
    settings: Settings,
    definitions: DefinitionsFactory,
    instance: dg.DagsterInstance,
    *,
    licensors: Sequence[str],
    days: Iterable[date],
    reports: Sequence[ReportSpec],
    on_result: Callable[[PartitionRun], None] | None = None,
    log_level: str = "CRITICAL",
    workers: int = 1,
) -> list[PartitionRun]:
    """Materialize the reports' assets for every (day, licensor), one run per partition.

    With `workers` > 1, runs execute in parallel: this process takes its share (it has imported
    and opened everything already) and `workers - 1` spawned processes the rest (a spawned worker
    costs seconds of imports before its first run), each run one process's in-process execution,
    all recording to the same instance; results arrive as they finish. Once a run reports that
    Spotify asked to wait (`resume_after`), no further run is started: each would only meet the
    same ban. The runs not started are missing from the result.
    """
    todo = deque((licensor, day) for day in days for licensor in licensors)
    notify = on_result or (lambda _run: None)
    outcomes: list[PartitionRun] = []
    distributed = settings.executor == "celery"  # parallel already: the workers take the steps
    defs = definitions(settings)

    def record(run: PartitionRun) -> None:
        outcomes.append(run)
        notify(run)

    def stopped() -> bool:
        return any(run.resume_after for run in outcomes)

    if distributed or workers <= 1 or len(todo) <= 1:
        for licensor, day in todo:
            record(_run_one(defs, instance, licensor, day, reports, log_level, distributed=distributed))
            if stopped():
                break
        return outcomes

    names = tuple(r.name for r in reports)
    slots = min(workers - 1, len(todo) - 1)
    context = multiprocessing.get_context("spawn")  # no fork: the parent may run threads (emulator)
    with ProcessPoolExecutor(
        max_workers=slots, mp_context=context, initializer=_start_worker, initargs=(settings, definitions)
    ) as pool:
        queued: set[Future[PartitionRun]] = set()
        while True:
            # Each worker holds one run and the next, so it never waits while this process runs one.
            while todo and not stopped() and len(queued) < 2 * slots:
                licensor, day = todo.popleft()
                queued.add(pool.submit(_worker_run, licensor, day, names, log_level))
            if todo and not stopped():
                licensor, day = todo.popleft()
                record(_run_one(defs, instance, licensor, day, reports, log_level))
            elif queued:
                wait(queued, return_when=FIRST_COMPLETED)
            else:
                break
            for future in [f for f in queued if f.done()]:
                queued.discard(future)
                if not future.cancelled():
                    record(future.result())
            if stopped():
                for future in queued:
                    future.cancel()  # those already running finish; the rest never start
    return sorted(outcomes, key=lambda run: (run.day, run.licensor))
