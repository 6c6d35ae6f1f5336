"""The daily schedule loads yesterday and re-pulls a look-back window for late data."""

from datetime import UTC, date, datetime, timedelta

import dagster as dg

from assets.schedules import DAILY_TICK_TAG, build_sensors, daily_run_requests, daily_step
from pipeline.config import Settings
from pipeline.dates import utc_today
from tests.kits.settings import kit_definitions, kit_partitions

defs = kit_definitions()
lookback_two = kit_definitions(Settings(licensors=("acme", "globex"), lookback_days=2))


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
    defs = lookback_two
    daily_bulk_reports = defs.resolve_schedule_def("daily_bulk_reports")
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


def test_the_catalog_then_the_warehouse_follow_the_days_loads():
    S = dg.DagsterRunStatus
    assert daily_step(4, [S.SUCCESS] * 3, []) is None  # a load not even started
    assert daily_step(4, [S.SUCCESS] * 3 + [S.STARTED], []) is None  # a load still running
    assert daily_step(4, [S.SUCCESS] * 3 + [S.FAILURE], []) == "catalog"  # a failed day does not hold up
    assert daily_step(4, [S.SUCCESS] * 4, [S.STARTED]) is None
    assert daily_step(4, [S.SUCCESS] * 4, [S.SUCCESS]) == "warehouse"
    assert daily_step(0, [], []) is None


def _evaluate(instance):
    (sensor,) = build_sensors(kit_partitions(), lookback_days=1)
    context = dg.build_sensor_context(instance=instance, repository_def=defs.get_repository_def())
    return list(sensor(context) or [])


def test_the_sequence_sensor_runs_the_catalog_after_the_loads_and_the_warehouse_after_the_catalog():
    from dagster._core.test_utils import create_run_for_test

    today = utc_today()
    tag = {DAILY_TICK_TAG: f"{today:%Y-%m-%d}"}
    S = dg.DagsterRunStatus
    requests = list(daily_run_requests(today, ("acme", "globex"), 1, date(2025, 1, 1)))
    assert len(requests) == 4 and all(r.tags[DAILY_TICK_TAG] == tag[DAILY_TICK_TAG] for r in requests)

    def run(job: str, status: dg.DagsterRunStatus) -> str:
        return create_run_for_test(instance, job_name=job, status=status, tags=tag).run_id

    with dg.instance_for_test() as instance:
        assert _evaluate(instance) == []  # no loads yet: nothing is built blind
        for _request in requests[:-1]:
            run("bulk_reports_job", S.SUCCESS)
        assert _evaluate(instance) == []  # one load not started
        running = run("bulk_reports_job", S.STARTED)
        assert _evaluate(instance) == []  # one load still running
        instance.delete_run(running)
        run("bulk_reports_job", S.FAILURE)
        (catalog,) = _evaluate(instance)  # all finished, one failed: enrich now
        assert catalog.job_name == "catalog_job" and catalog.run_key == f"catalog:{today:%Y-%m-%d}"
        enriching = run("catalog_job", S.STARTED)
        assert _evaluate(instance) == []  # the build waits for the enrichment
        instance.delete_run(enriching)
        run("catalog_job", S.SUCCESS)
        (warehouse,) = _evaluate(instance)
    assert warehouse.job_name == "warehouse_job" and warehouse.run_key == f"warehouse:{today:%Y-%m-%d}"
    assert warehouse.tags["dagster/asset_partition_range_end"] == f"{today - timedelta(days=1):%Y-%m-%d}"


def test_the_definitions_schedule_the_loads_and_sequence_the_rest():
    assert [s.name for s in defs.schedules] == ["daily_bulk_reports"]
    assert [s.name for s in defs.sensors] == ["daily_sequence"]
