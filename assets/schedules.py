"""The daily pipeline: load (06:00 UTC), then enrich the catalog, then build the warehouse.

`build_schedule_from_partitioned_job` would request only the newest day; the Bulk API re-publishes
days late, so the load schedule also re-pulls the `SPOTIFY_BULK_LOOKBACK_DAYS` (default 3) days
before it. The catalog enrichment and the warehouse build are not on clocks of their own: the
`daily_sequence` sensor starts the enrichment once every load run of the day has finished, and the
build once the enrichment has, so a track has its name in the marts the day it first streams.
Schedules and the sensor are built from the partitions and look-back that settings give at start-up.
"""

from collections.abc import Iterator, Sequence
from datetime import date, timedelta

import dagster as dg

from assets.bulk_reports import GROUP
from assets.catalog import catalog_job
from pipeline.dates import DateWindow, utc_today
from pipeline.ingest.status import repull_window
from pipeline.orchestration.partitions import Partitions, date_range_tags, partition_key

DAILY_TICK_TAG = "spotify/daily_tick"  # the day whose daily pipeline a run belongs to

bulk_reports_job = dg.define_asset_job(
    name="bulk_reports_job",
    selection=dg.AssetSelection.groups(GROUP),
    description="Loads every Bulk API report for one date x licensor partition.",
)


def daily_run_requests(
    tick_day: date, licensors: tuple[str, ...], lookback: int, first_day: date
) -> Iterator[dg.RunRequest]:
    """Run requests for yesterday and the `lookback` days before it, per licensor, newest first."""
    for back in range(1, lookback + 2):
        day = tick_day - timedelta(days=back)
        if day < first_day:
            break
        for licensor in licensors:
            key = partition_key(licensor, day)
            yield dg.RunRequest(
                run_key=f"{tick_day:%Y-%m-%d}:{key}",
                partition_key=key,
                tags={"spotify/lookback_day": str(back - 1), DAILY_TICK_TAG: f"{tick_day:%Y-%m-%d}"},
            )


warehouse_job = dg.define_asset_job(
    name="warehouse_job",
    selection=dg.AssetSelection.groups("warehouse"),
    description="Rebuilds the warehouse marts for a date window and publishes the catalog.",
)


def warehouse_run_request(tick_day: date, lookback: int, first_day: date) -> dg.RunRequest:
    """One run over yesterday and the look-back window: the marts read whole windows (single run)."""
    window = repull_window(tick_day, lookback, first_day) or DateWindow(first_day, first_day)
    return dg.RunRequest(
        run_key=f"warehouse:{tick_day:%Y-%m-%d}",
        job_name=warehouse_job.name,
        tags={DAILY_TICK_TAG: f"{tick_day:%Y-%m-%d}", **date_range_tags(window.start, window.end)},
    )


def daily_step(
    expected_loads: int, loads: Sequence[dg.DagsterRunStatus], catalogs: Sequence[dg.DagsterRunStatus]
) -> str | None:
    """What the day's pipeline needs next: "catalog", "warehouse", or nothing (wait, or done).

    Failed loads count as finished (their days keep the previous version; the build reconciles what
    the lake holds), so one bad partition does not hold every licensor's marts back.
    """
    if expected_loads == 0 or len(loads) < expected_loads or not all(s in FINISHED for s in loads):
        return None
    if not catalogs:
        return "catalog"
    if all(s in FINISHED for s in catalogs):
        return "warehouse"
    return None


FINISHED = frozenset({dg.DagsterRunStatus.SUCCESS, dg.DagsterRunStatus.FAILURE, dg.DagsterRunStatus.CANCELED})


def build_schedules(partitions: Partitions, lookback_days: int) -> list[dg.ScheduleDefinition]:
    """The daily load, over yesterday and the look-back window."""

    @dg.schedule(
        job=bulk_reports_job,
        cron_schedule="0 6 * * *",
        execution_timezone="UTC",
        description="Daily at 06:00 UTC: load yesterday and re-pull the look-back window; the "
        "daily_sequence sensor then enriches the catalog and builds the warehouse.",
    )
    def daily_bulk_reports(context: dg.ScheduleEvaluationContext) -> Iterator[dg.RunRequest]:
        tick_day = context.scheduled_execution_time.date()
        yield from daily_run_requests(
            tick_day, partitions.licensor_names, lookback_days, partitions.start_date
        )

    return [daily_bulk_reports]


def build_sensors(partitions: Partitions, lookback_days: int) -> list[dg.SensorDefinition]:
    """The sensor that runs the catalog enrichment, then the warehouse build, after the day's loads."""

    @dg.sensor(
        jobs=[catalog_job, warehouse_job],
        minimum_interval_seconds=60,
        description="After every load run of today's 06:00 tick has finished: enrich the catalog; "
        "after that: build the warehouse over yesterday and the look-back window.",
    )
    def daily_sequence(context: dg.SensorEvaluationContext) -> Iterator[dg.RunRequest]:
        tick_day = utc_today()
        runs = context.instance.get_runs(filters=dg.RunsFilter(tags={DAILY_TICK_TAG: f"{tick_day:%Y-%m-%d}"}))
        expected = len(
            list(
                daily_run_requests(tick_day, partitions.licensor_names, lookback_days, partitions.start_date)
            )
        )
        step = daily_step(
            expected,
            [r.status for r in runs if r.job_name == bulk_reports_job.name],
            [r.status for r in runs if r.job_name == catalog_job.name],
        )
        if step == "catalog":
            yield dg.RunRequest(
                run_key=f"catalog:{tick_day:%Y-%m-%d}",
                job_name=catalog_job.name,
                tags={DAILY_TICK_TAG: f"{tick_day:%Y-%m-%d}"},
            )
        elif step == "warehouse":
            yield warehouse_run_request(tick_day, lookback_days, partitions.start_date)

    return [daily_sequence]
