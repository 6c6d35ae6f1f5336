"""Materializing the lake assets through Dagster against the emulator over real HTTP."""

from datetime import date

import dagster as dg
import pytest

from pipeline.layout import Layout
from pipeline.orchestration.partitions import partition_key
from pipeline.orchestration.resources import LakeResource
from pipeline.reports import TABLES_BY_NAME
from tests.conftest import LOADED_DAY
from tests.kits.fake_lake import partition_row_count
from tests.kits.settings import emulator_bulk_api, lake_report_assets


def _resources(emulator, data_dir):
    return {
        "bulk_api": emulator_bulk_api(emulator),
        "lake": LakeResource(data_dir=str(data_dir)),
    }


def _row_counts(data_dir, licensor, day):
    layout = Layout(data_dir)
    return {table: partition_row_count(layout, table, licensor, day) for table in TABLES_BY_NAME}


@pytest.fixture
def instance():
    with dg.instance_for_test() as instance:
        yield instance


def test_materialize_one_partition_lands_every_table_with_the_emulators_counts(emulator, tmp_path, instance):
    data_dir = tmp_path / "data"
    result = dg.materialize(
        lake_report_assets(),
        partition_key=str(partition_key("acme", LOADED_DAY)),
        resources=_resources(emulator, data_dir),
        instance=instance,
    )
    assert result.success
    expected = emulator.expected("acme", LOADED_DAY)
    assert _row_counts(data_dir, "acme", LOADED_DAY) == {t: expected[t] for t in TABLES_BY_NAME}
    assert all(expected[t] > 0 for t in TABLES_BY_NAME)

    materialized = {e.asset_key.to_user_string() for e in result.get_asset_materialization_events()}
    assert materialized == set(TABLES_BY_NAME)
    checks = result.get_asset_check_evaluations()
    assert checks and all(c.passed for c in checks)
    meta = next(
        e.materialization.metadata
        for e in result.get_asset_materialization_events()
        if e.asset_key == dg.AssetKey("streams")
    )
    assert meta["dagster/row_count"].value == expected["streams"]
    assert meta["bytes"].value > 0


def test_second_materialization_replaces_the_partition_without_duplicates(emulator, tmp_path, instance):
    data_dir = tmp_path / "data"
    key = str(partition_key("globex", LOADED_DAY))
    for _ in range(2):
        assert dg.materialize(
            lake_report_assets(),
            partition_key=key,
            resources=_resources(emulator, data_dir),
            instance=instance,
        ).success
    expected = emulator.expected("globex", LOADED_DAY)
    assert _row_counts(data_dir, "globex", LOADED_DAY) == {t: expected[t] for t in TABLES_BY_NAME}


def test_unpublished_day_is_skipped_not_failed(emulator, tmp_path, instance):
    data_dir = tmp_path / "data"
    future = date.fromordinal(emulator.config.today.toordinal())  # within the lag: not published yet
    result = dg.materialize(
        lake_report_assets(),
        partition_key=str(partition_key("acme", future)),
        resources=_resources(emulator, data_dir),
        instance=instance,
    )
    assert result.success
    assert result.get_asset_materialization_events() == []
    assert not (data_dir / "lake").exists() or not any((data_dir / "lake").rglob("*.parquet"))
