"""Retention treats the listener mart as personal data: its old partitions go with the lake's."""

from __future__ import annotations

import shutil
from datetime import timedelta

from pipeline.layout import Layout
from pipeline.orchestration.retention import apply_retention
from pipeline.risk.personal import PERSONAL_MARTS
from pipeline.warehouse.paths import WarehousePaths, partition_dirs
from tests.risk.conftest import RiskLake


def test_retention_deletes_suspicious_listeners_and_keeps_the_aggregates(
    risk_lake: RiskLake, tmp_path
) -> None:
    shutil.copytree(risk_lake.layout.data_dir, tmp_path / "data", symlinks=True)
    layout, paths = Layout(tmp_path / "data"), WarehousePaths(Layout(tmp_path / "data"))
    listeners = paths.mart_dir("fct_suspicious_listeners")
    assert "fct_suspicious_listeners" in PERSONAL_MARTS and partition_dirs(listeners)
    risk_days = {day for _, day, _ in partition_dirs(paths.mart_dir("fct_track_risk"))}
    kept = apply_retention(layout, keep_days=1, today=risk_lake.fraud_day + timedelta(days=2), dry_run=True)
    assert any(e.kind == "mart" for e in kept.expired) and partition_dirs(listeners)  # a dry run lists only
    result = apply_retention(layout, keep_days=1, today=risk_lake.fraud_day + timedelta(days=2))
    assert {e.name for e in result.expired if e.kind == "mart"} == {"fct_suspicious_listeners"}
    assert not partition_dirs(listeners)
    assert {day for _, day, _ in partition_dirs(paths.mart_dir("fct_track_risk"))} == risk_days
