"""The daily schedule loads yesterday and re-pulls a look-back window for late data."""

from datetime import UTC, date, datetime

import dagster as dg

from assets.schedules import build_schedules, daily_run_requests
from pipeline.config import Settings
from tests.kits.settings import kit_definitions, kit_partitions

defs = kit_definitions()


def test_run_requests_cover_yesterday_and_three_days_back_per_licensor():
    requests = list(daily_run_requests(date(2026, 6, 15), ("acme", "globex"), 3, date(2025, 1, 1)))
    keys = [str(r.partition_key) for r in requests]
    assert keys == [
        f"{day}|{lic}"
        for day in ("2026-06-14", "2026-06-13", "2026-06-12", "2026-06-11")
        for lic in ("acme", "globex")
    ]
    assert len({r.run_key for r in requests}) == len(requests)


def test_run_keys_differ_between_ticks_so_late_days_are_re_pulled():
    first = {r.run_key for r in daily_run_requests(date(2026, 6, 15), ("acme",), 3, date(2025, 1, 1))}
    second = {r.run_key for r in daily_run_requests(date(2026, 6, 16), ("acme",), 3, date(2025, 1, 1))}
    assert first.isdisjoint(second)


def test_look_back_stops_at_the_first_partition():
    requests = list(daily_run_requests(date(2025, 1, 3), ("acme",), 3, date(2025, 1, 1)))
    assert [str(r.partition_key) for r in requests] == ["2025-01-02|acme", "2025-01-01|acme"]


def test_schedule_evaluation_returns_valid_partitioned_run_requests():
    defs = kit_definitions(Settings(licensors=("acme", "globex"), lookback_days=2))
    daily_bulk_reports = defs.get_schedule_def("daily_bulk_reports")
    tick = datetime(2026, 6, 15, 6, 0, tzinfo=UTC)
    with dg.instance_for_test() as instance:
        context = dg.build_schedule_context(
            instance=instance, scheduled_execution_time=tick, repository_def=defs.get_repository_def()
        )
        data = daily_bulk_reports.evaluate_tick(context)
    keys = sorted(str(r.partition_key) for r in data.run_requests)
    assert keys == sorted(
        f"{d}|{lic}" for d in ("2026-06-14", "2026-06-13", "2026-06-12") for lic in ("acme", "globex")
    )
    job = defs.resolve_job_def("bulk_reports_job")
    assert all(r.partition_key in job.partitions_def.get_partition_keys() for r in data.run_requests)


def test_warehouse_schedule_requests_one_run_over_the_look_back_window():
    _daily_bulk_reports, daily_warehouse = build_schedules(kit_partitions(), lookback_days=3)
    tick = datetime(2026, 6, 15, 7, 0, tzinfo=UTC)
    with dg.instance_for_test() as instance:
        context = dg.build_schedule_context(
            instance=instance, scheduled_execution_time=tick, repository_def=defs.get_repository_def()
        )
        data = daily_warehouse.evaluate_tick(context)
    (request,) = data.run_requests
    assert request.tags["dagster/asset_partition_range_start"] == "2026-06-11"
    assert request.tags["dagster/asset_partition_range_end"] == "2026-06-14"
    assert request.job_name in (None, "warehouse_job")
