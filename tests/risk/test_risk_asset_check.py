"""The per-day Dagster asset check: WARN with the flagged tracks in its metadata, no listener in it."""

from __future__ import annotations

import json
import shutil

import dagster as dg
import pytest

from assets.risk import CHECK_NAME, risk_check_result
from pipeline.config import RiskSettings, Settings
from pipeline.dates import DateWindow
from pipeline.definitions import build_definitions
from pipeline.orchestration.resources import LakeResource, lake_resource
from pipeline.warehouse.options import WarehouseOptions
from tests.kits.risk import LICENSOR
from tests.risk.conftest import FIRST, RiskLake


def test_a_day_with_flags_warns_and_lists_them(risk_lake: RiskLake) -> None:
    result = risk_check_result(
        risk_lake.layout, DateWindow(risk_lake.fraud_day, risk_lake.fraud_day), WarehouseOptions()
    )
    assert not result.passed and result.severity == dg.AssetCheckSeverity.WARN
    meta = result.metadata
    listed = meta["flagged"].value
    fraud_tracks = {t for label in risk_lake.labels if label.fraud for t in label.track_ids}
    assert meta["flagged_tracks"].value == len(listed) and {t["track_id"] for t in listed} <= fraud_tracks
    assert meta["fee_exposure_eur"].value == 10.0 * len(listed)
    users = {u for label in risk_lake.labels for u in label.user_ids}
    text = json.dumps(listed)
    assert not any(u in text for u in users)
    assert set(listed[0]) >= {
        "licensor",
        "track_id",
        "risk_score",
        "artificial_share",
        "reasons",
        "first_flagged",
    }


def test_a_quiet_day_passes(risk_lake: RiskLake) -> None:
    result = risk_check_result(risk_lake.layout, DateWindow(FIRST, FIRST), WarehouseOptions())
    assert result.passed and result.metadata["flagged_tracks"].value == 0


def test_the_check_is_a_monitor_of_the_warehouse_step_on_fct_track_risk(tmp_path) -> None:
    defs = build_definitions(Settings(data_dir=tmp_path, licensors=("acme",), start_date=FIRST))
    key = dg.AssetCheckKey(dg.AssetKey("fct_track_risk"), CHECK_NAME)
    assert key in defs.resolve_asset_graph().asset_check_keys
    job = defs.resolve_job_def("warehouse_job")
    (step,) = job.graph.node_defs  # evaluated by the build step, after it published: no step of its own
    (assets,) = [a for a in defs.assets or () if isinstance(a, dg.AssetsDefinition) and key in a.check_keys]
    spec = next(s for s in assets.check_specs if s.key == key)
    assert assets.op.name == step.name and not spec.blocking  # a monitor: warns, never blocks


def test_dagster_warehouse_steps_get_the_risk_settings(tmp_path) -> None:
    """`spotify-bulk build` and the schedules build through Dagster: the thresholds go with the resource."""
    risk = RiskSettings(loop_plays=12, flag_share=0.3, fee_eur=25.0)
    resource = lake_resource(Settings(data_dir=tmp_path, risk=risk))
    assert resource.warehouse_options().risk == risk
    assert lake_resource(Settings(data_dir=tmp_path)).warehouse_options().risk == RiskSettings()


@pytest.mark.slow
def test_the_warehouse_job_evaluates_the_check_for_the_day(risk_lake: RiskLake, tmp_path) -> None:
    """A real Dagster run of the warehouse job for the fraud day: the check warns, with the tracks."""
    shutil.copytree(risk_lake.layout.data_dir, tmp_path / "data", symlinks=True)
    settings = Settings(data_dir=tmp_path / "data", licensors=(LICENSOR,), start_date=FIRST)
    job = build_definitions(settings).resolve_job_def("warehouse_job")
    with dg.instance_for_test() as instance:
        result = job.execute_in_process(
            instance=instance,
            partition_key=risk_lake.fraud_day.isoformat(),
            resources={"lake": LakeResource(data_dir=str(tmp_path / "data"))},
            raise_on_error=False,
        )
    assert result.success
    found = [e for e in result.get_asset_check_evaluations() if e.check_name == CHECK_NAME]
    assert len(found) == 1 and not found[0].passed and found[0].severity == dg.AssetCheckSeverity.WARN
    assert found[0].metadata["flagged_tracks"].value > 0
