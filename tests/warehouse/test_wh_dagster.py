"""Dagster: one step per build, an asset per model, date partitions, the DuckDB pool, blocking checks."""

from __future__ import annotations

import warnings
from datetime import date

import dagster as dg
import pytest

from assets.warehouse import MODELS, POOL
from assets.warehouse import warehouse_assets as build_warehouse_assets
from pipeline.layout import Layout
from pipeline.orchestration.resources import LakeResource
from pipeline.orchestration.warehouse_runs import CATALOG
from pipeline.warehouse.catalog import open_catalog
from tests.kits.fake_lake import day_tables, write_partition
from tests.kits.settings import kit_definitions, kit_partitions

warnings.filterwarnings("ignore", category=dg.BetaWarning)
(warehouse_build,) = build_warehouse_assets(kit_partitions())
DEFS = kit_definitions()  # built before any test instance is disposed (see _materialize)
# Definitions build their repository lazily, on the first `resolve_*`: do it now, at collection, so it
# never reads a Dagster state storage that an earlier test's instance left in the context variable.
DEFS.get_repository_def()


def _materialize(layout: Layout, partition: str, only: set[str] | None = None) -> dg.ExecuteInProcessResult:
    selection = None if only is None else [*only, CATALOG]
    # A `with` block disposes the instance: an undisposed one leaves its storage registered in a
    # context variable, and a later Definitions load in the same process trips over its dead weakref.
    with dg.instance_for_test() as instance:
        return dg.materialize(
            [warehouse_build],
            selection=selection,
            partition_key=partition,
            resources={"lake": LakeResource(data_dir=str(layout.data_dir))},
            instance=instance,
            raise_on_error=False,
        )


def test_one_step_with_an_asset_per_model_its_deps_and_blocking_checks():
    keys = {k.to_user_string() for k in warehouse_build.keys}
    assert keys == {m.name for m in MODELS} | {CATALOG}
    assert warehouse_build.op.pool == POOL == "duckdb_writer"
    # One step: the artificial-streaming monitor is a check spec of it, evaluated after publishing.
    steps = sorted(n.name for n in DEFS.resolve_job_def("warehouse_job").graph.node_defs)
    assert steps == ["warehouse_build"]
    checks = {(s.asset_key.to_user_string(), s.name): s for s in warehouse_build.check_specs}
    for model in MODELS:
        spec = warehouse_build.specs_by_key[dg.AssetKey(model.name)]
        assert spec.group_name == "warehouse"
        assert (spec.partitions_def is not None) == model.partitioned
        assert {d.asset_key.to_user_string() for d in spec.deps} == set(model.lake_tables) | set(
            model.depends_on
        )
        if model.materialized:
            assert checks[(model.name, "unique_key")].blocking
    monitor = checks.pop(("fct_track_risk", "no_artificial_streaming"))
    assert not monitor.blocking and monitor.description.startswith("Monitor")
    assert all(spec.blocking for spec in checks.values())
    assert {name for model, name in checks if model == "stg_streams"} == {
        "streamed_users_in_users",
        "streamed_tracks_in_tracks",
    }
    assert {name for model, name in checks if model == "stg_aggregated_count"} == {
        "aggregated_count_matches_streams"
    }
    catalog = warehouse_build.specs_by_key[dg.AssetKey(CATALOG)]
    assert {d.asset_key.to_user_string() for d in catalog.deps} == {m.name for m in MODELS}


def test_materializing_a_date_builds_checks_and_publishes(layout: Layout, lake_days: list[date]):
    day = lake_days[2].isoformat()
    result = _materialize(layout, day)
    assert result.success
    reported = {e.asset_key.to_user_string(): e for e in result.get_asset_materialization_events()}
    assert set(reported) == {m.name for m in MODELS} | {CATALOG}  # every model, as its own asset
    assert reported["fct_daily_streams"].materialization.metadata["dagster/row_count"].value > 0
    assert reported["fct_daily_streams"].partition == day
    checks = result.get_asset_check_evaluations()
    assert {(c.asset_key.to_user_string(), c.check_name) for c in checks} == {
        (s.asset_key.to_user_string(), s.name) for s in warehouse_build.check_specs
    }
    assert all(c.passed for c in checks)
    (monitor,) = [c for c in checks if c.check_name == "no_artificial_streaming"]
    assert monitor.metadata["days"].value == day and monitor.metadata["flagged_tracks"].value == 0
    con = open_catalog(layout.warehouse_path)
    assert con.execute("SELECT DISTINCT date FROM fct_daily_streams").fetchall() == [(lake_days[2],)]
    assert con.execute("SELECT sum(streams) FROM fct_track_performance").fetchone() == (120,)
    con.close()


def test_a_subset_reports_only_what_was_selected(layout: Layout, lake_days: list[date]):
    result = _materialize(layout, lake_days[0].isoformat(), {"stg_streams", "fct_daily_streams"})
    assert result.success
    reported = {e.asset_key.to_user_string() for e in result.get_asset_materialization_events()}
    assert reported == {"stg_streams", "fct_daily_streams", CATALOG}


def test_a_failed_blocking_check_stops_the_marts(layout: Layout, lake_days: list[date]):
    day = lake_days[1]
    streams = day_tables("globex", day)["streams"]
    write_partition(layout, "streams", "globex", day, [*streams, dict(streams[0], user_id="ghost")])
    result = _materialize(layout, day.isoformat())
    assert not result.success
    failed = [c for c in result.get_asset_check_evaluations() if not c.passed]
    assert {c.check_name for c in failed} >= {"streamed_users_in_users", "aggregated_count_matches_streams"}
    assert all(c.severity == dg.AssetCheckSeverity.ERROR for c in failed)
    built = {e.asset_key.to_user_string() for e in result.get_asset_materialization_events()}
    assert "fct_daily_streams" not in built and CATALOG not in built
    assert not layout.warehouse_path.exists()


@pytest.mark.parametrize("model", [m for m in MODELS if m.rolling_days])
def test_rolling_models_depend_on_the_days_they_read(model):
    for dep in warehouse_build.specs_by_key[dg.AssetKey(model.name)].deps:
        if dep.asset_key.to_user_string() == "fct_track_sub30_share":
            assert isinstance(dep.partition_mapping, dg.TimeWindowPartitionMapping)
            assert dep.partition_mapping.start_offset == -(model.rolling_days - 1)


def test_the_scheduled_warehouse_job_builds_the_look_back_window_in_one_run(
    layout: Layout, lake_days: list[date]
):
    from assets.schedules import warehouse_run_request

    tick = lake_days[-1].toordinal() + 1
    request = warehouse_run_request(date.fromordinal(tick), lookback=2, first_day=lake_days[0])
    job = DEFS.resolve_job_def("warehouse_job")
    with dg.instance_for_test() as instance:
        result = job.execute_in_process(
            instance=instance,
            tags=request.tags,
            resources={"lake": LakeResource(data_dir=str(layout.data_dir))},
            raise_on_error=False,
        )
    assert result.success
    steps = {e.step_key for e in result.all_events if e.event_type_value == "STEP_SUCCESS"}
    assert steps == {"warehouse_build"}
    con = open_catalog(layout.warehouse_path)
    built = [
        row[0] for row in con.execute("SELECT DISTINCT date FROM fct_daily_streams ORDER BY 1").fetchall()
    ]
    con.close()
    assert built == lake_days[-3:]
