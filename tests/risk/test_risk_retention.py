"""Retention treats the listener mart as personal data: its old partitions go with the lake's,
from the current snapshot and from every snapshot still referenced; the aggregates stay."""

from __future__ import annotations

from datetime import timedelta

from pipeline.dates import DateWindow
from pipeline.layout import Layout
from pipeline.orchestration.retention import apply_retention
from pipeline.risk.personal import PERSONAL_MARTS
from pipeline.warehouse.build import build_warehouse
from pipeline.warehouse.paths import WarehousePaths
from tests.kits.risk import labelled_lake
from tests.risk.conftest import FIRST, ROWS

LISTENERS = "fct_suspicious_listeners"


def test_retention_deletes_suspicious_listeners_and_keeps_the_aggregates(tmp_path) -> None:
    # A lake of its own: retention deletes files, and Iceberg metadata names them by absolute path,
    # so a copy of the shared risk lake would delete the shared lake's files.
    layout = Layout(tmp_path / "data")
    labelled_lake(layout, tmp_path / "gen", FIRST, days=3, fraud_days=1, rows=ROWS)
    fraud_day = FIRST + timedelta(days=2)
    assert build_warehouse(layout, DateWindow(FIRST, fraud_day)).passed
    marts = WarehousePaths(layout).marts
    assert LISTENERS in PERSONAL_MARTS and marts.partitions(LISTENERS)
    risk_days = {day for _, day in marts.partitions("fct_track_risk")}
    today = fraud_day + timedelta(days=2)  # keep 1 day: every built day expires

    listed = apply_retention(layout, keep_days=1, today=today, dry_run=True)
    assert any(e.kind == "mart" for e in listed.expired) and marts.partitions(LISTENERS)  # lists only

    result = apply_retention(layout, keep_days=1, today=today)
    assert {e.name for e in result.expired if e.kind == "mart"} == {LISTENERS}
    assert not marts.partitions(LISTENERS)
    table = marts.load(LISTENERS)
    assert table is not None
    for snapshot in table.snapshots():  # no referenced file of any snapshot keeps an expired day
        assert not [p for p in marts.files(LISTENERS, snapshot.snapshot_id) if p[1] < result.cutoff]
    assert {day for _, day in marts.partitions("fct_track_risk")} == risk_days
