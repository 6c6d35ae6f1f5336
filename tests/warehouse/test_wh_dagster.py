"""Dagster: one asset per model, date partitions, the DuckDB pool, blocking checks that gate."""

from __future__ import annotations

import warnings
from datetime import date

import dagster as dg
import pytest

from assets.warehouse import CATALOG, MODELS, POOL
from assets.warehouse import warehouse_assets as build_warehouse_assets
from pipeline.layout import Layout
from pipeline.orchestration.resources import LakeResource
from pipeline.warehouse.catalog import open_catalog
from tests.kits.fake_lake import day_tables, write_partition
from tests.kits.settings import kit_definitions, kit_partitions

warnings.filterwarnings("ignore", category=dg.BetaWarning)
*warehouse_assets, warehouse_catalog = build_warehouse_assets(kit_partitions())
DEFS = kit_definitions()  # built before any test instance is disposed (see _materialize)
# Definitions build their repository lazily, on the first `resolve_*`: do it now, at collection, so it
# never reads a Dagster state storage that an earlier test's instance left in the context variable.
DEFS.get_repository_def()


def _materialize(layout: Layout, partition: str, only: set[str] | None = None) -> dg.ExecuteInProcessResult:
    partitioned = [
        a
        for a in warehouse_assets
        if a.partitions_def is not None and (only is None or a.key.to_user_string() in only)
    ]
    # A `with` block disposes the instance: an undisposed one leaves its storage registered in a
    # context variable, and a later Definitions load in the same process trips over its dead weakref.
    with dg.instance_for_test() as instance:
        return dg.materialize(
            [*partitioned, warehouse_catalog],
            partition_key=partition,
            resources={"lake": LakeResource(data_dir=str(layout.data_dir))},
            instance=instance,
            raise_on_error=False,
        )


def test_one_asset_per_model_with_pool_deps_and_blocking_checks():
    by_key = {a.key.to_user_string(): a for a in warehouse_assets}
    assert set(by_key) == {m.name for m in MODELS}
    for model in MODELS:
        asset = by_key[model.name]
        assert asset.op.pool == POOL == "duckdb_writer"
        assert asset.group_names_by_key[asset.key] == "warehouse"
        assert (asset.partitions_def is not None) == model.partitioned
        deps = {k.to_user_string() for k in asset.dependency_keys}
        assert deps == set(model.lake_tables) | set(model.depends_on)
        assert all(spec.blocking for spec in asset.check_specs)
        if model.materialized:
            assert "unique_key" in {s.name for s in asset.check_specs}
    assert {s.name for s in by_key["stg_streams"].check_specs} == {
        "streamed_users_in_users",
        "streamed_tracks_in_tracks",
    }
    assert {s.name for s in by_key["stg_aggregated_count"].check_specs} == {
        "aggregated_count_matches_streams"
    }
    assert warehouse_catalog.op.pool == POOL and warehouse_catalog.key.to_user_string() == CATALOG


def test_materializing_a_date_builds_checks_and_publishes(layout: Layout, lake_days: list[date]):
    day = lake_days[2].isoformat()
    chain = {"stg_streams", "stg_sub30_streams", "stg_aggregated_count", "fct_daily_streams"}
    result = _materialize(
        layout,
        day,
        chain | {"stg_tracks", "stg_aggregated_summary", "fct_track_sub30_share", "fct_track_performance"},
    )
    assert result.success
    rows = {
        e.asset_key.to_user_string(): e.materialization.metadata["dagster/row_count"].value
        for e in result.get_asset_materialization_events()
        if "dagster/row_count" in e.materialization.metadata
    }
    assert rows["stg_streams"] == 120 and rows["fct_daily_streams"] > 0
    checks = result.get_asset_check_evaluations()
    assert checks and all(c.passed for c in checks)
    con = open_catalog(layout.warehouse_path)
    assert con.execute("SELECT DISTINCT date FROM fct_daily_streams").fetchall() == [(lake_days[2],)]
    assert con.execute("SELECT sum(streams) FROM fct_track_performance").fetchone() == (120,)
    con.close()


def test_a_failed_blocking_check_stops_the_marts(layout: Layout, lake_days: list[date]):
    day = lake_days[1]
    streams = day_tables("globex", day)["streams"]
    write_partition(layout, "streams", "globex", day, [*streams, dict(streams[0], user_id="ghost")])
    result = _materialize(
        layout, day.isoformat(), {"stg_streams", "stg_aggregated_count", "fct_daily_streams"}
    )
    assert not result.success
    failed = [c for c in result.get_asset_check_evaluations() if not c.passed]
    assert {c.check_name for c in failed} >= {"streamed_users_in_users", "aggregated_count_matches_streams"}
    built = {e.asset_key.to_user_string() for e in result.get_asset_materialization_events()}
    assert "fct_daily_streams" not in built and CATALOG not in built
    assert not layout.warehouse_path.exists()


@pytest.mark.parametrize("model", [m for m in MODELS if m.rolling_days])
def test_rolling_models_depend_on_the_days_they_read(model):
    asset = next(a for a in warehouse_assets if a.key.to_user_string() == model.name)
    for dep in asset.specs_by_key[asset.key].deps:
        if dep.asset_key.to_user_string() == "fct_track_sub30_share":
            assert isinstance(dep.partition_mapping, dg.TimeWindowPartitionMapping)
            assert dep.partition_mapping.start_offset == -(model.rolling_days - 1)


def test_the_scheduled_warehouse_job_builds_the_look_back_window_in_one_run(
    layout: Layout, lake_days: list[date]
):
    from assets.schedules import warehouse_run_request

    defs = DEFS
    tick = lake_days[-1].toordinal() + 1
    request = warehouse_run_request(date.fromordinal(tick), lookback=2, first_day=lake_days[0])
    job = defs.resolve_job_def("warehouse_job")
    with dg.instance_for_test() as instance:
        result = job.execute_in_process(
            instance=instance,
            tags=request.tags,
            resources={"lake": LakeResource(data_dir=str(layout.data_dir))},
            raise_on_error=False,
        )
    assert result.success
    con = open_catalog(layout.warehouse_path)
    built = [
        row[0] for row in con.execute("SELECT DISTINCT date FROM fct_daily_streams ORDER BY 1").fetchall()
    ]
    con.close()
    assert built == lake_days[-3:]
