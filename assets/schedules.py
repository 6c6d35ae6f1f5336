"""The daily load: the latest partition plus a look-back window for late-arriving data.

`build_schedule_from_partitioned_job` would request only the newest day; the Bulk API re-publishes
days late, so this schedule also re-pulls the `SPOTIFY_BULK_LOOKBACK_DAYS` (default 3) days before it.
Schedules are built from the partitions and look-back that settings give at start-up.
"""

from collections.abc import Iterator
from datetime import date, timedelta

import dagster as dg

from assets.bulk_reports import GROUP
from pipeline.orchestration.partitions import Partitions, date_range_tags, partition_key

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
                tags={"spotify/lookback_day": str(back - 1)},
            )


warehouse_job = dg.define_asset_job(
    name="warehouse_job",
    selection=dg.AssetSelection.groups("warehouse"),
    description="Rebuilds the warehouse marts for a date window and publishes the catalog.",
)


def warehouse_run_request(tick_day: date, lookback: int, first_day: date) -> dg.RunRequest:
    """One run over yesterday and the look-back window: the marts read whole windows (single run)."""
    end = tick_day - timedelta(days=1)
    start = max(first_day, end - timedelta(days=lookback))
    return dg.RunRequest(
        run_key=f"warehouse:{tick_day:%Y-%m-%d}",
        tags=date_range_tags(start, end),
    )


def build_schedules(partitions: Partitions, lookback_days: int) -> list[dg.ScheduleDefinition]:
    """The daily load and the daily warehouse build, over yesterday and the look-back window."""

    @dg.schedule(
        job=bulk_reports_job,
        cron_schedule="0 6 * * *",
        execution_timezone="UTC",
        description="Daily at 06:00 UTC: load yesterday and re-pull the look-back window.",
    )
    def daily_bulk_reports(context: dg.ScheduleEvaluationContext) -> Iterator[dg.RunRequest]:
        tick_day = context.scheduled_execution_time.date()
        yield from daily_run_requests(
            tick_day, partitions.licensor_names, lookback_days, partitions.start_date
        )

    @dg.schedule(
        job=warehouse_job,
        cron_schedule="0 7 * * *",
        execution_timezone="UTC",
        description="Daily at 07:00 UTC, after the loads: rebuild the marts for the look-back window.",
    )
    def daily_warehouse(context: dg.ScheduleEvaluationContext) -> dg.RunRequest:
        tick_day = context.scheduled_execution_time.date()
        return warehouse_run_request(tick_day, lookback_days, partitions.start_date)

    return [daily_bulk_reports, daily_warehouse]
