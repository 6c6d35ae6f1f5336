"""The per-day Dagster asset check: WARN with the flagged tracks in its metadata, no listener in it."""

from __future__ import annotations

import json

import dagster as dg

from assets.risk import CHECK_NAME, risk_check_result, risk_checks
from pipeline.config import RiskSettings, Settings
from pipeline.dates import DateWindow
from pipeline.definitions import build_definitions
from pipeline.orchestration.partitions import build_partitions
from pipeline.orchestration.resources import lake_resource
from pipeline.warehouse.options import WarehouseOptions
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


def test_the_check_is_registered_per_day_on_fct_track_risk(tmp_path) -> None:
    defs = build_definitions(Settings(data_dir=tmp_path, licensors=("acme",), start_date=FIRST))
    graph = defs.resolve_asset_graph()
    key = dg.AssetCheckKey(dg.AssetKey("fct_track_risk"), CHECK_NAME)
    assert key in graph.asset_check_keys
    check = risk_checks(build_partitions(("acme",), FIRST))[0]
    assert (
        next(iter(check.check_specs)).partitions_def is not None
        and not next(iter(check.check_specs)).blocking
    )


def test_dagster_warehouse_steps_get_the_risk_settings(tmp_path) -> None:
    """`spotify-bulk build` and the schedules build through Dagster: the thresholds go with the resource."""
    risk = RiskSettings(loop_plays=12, flag_share=0.3, fee_eur=25.0)
    resource = lake_resource(Settings(data_dir=tmp_path, risk=risk))
    assert resource.warehouse_options().risk == risk
    assert lake_resource(Settings(data_dir=tmp_path)).warehouse_options().risk == RiskSettings()
