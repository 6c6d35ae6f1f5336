"""A small labelled warehouse for the risk tests: two normal days, then one with every pattern.

The first two days are built first; the third day is then built alone (a daily build), so the
tests see whether a farm is flagged by the same day's build.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

import pytest

from pipeline.dates import DateWindow
from pipeline.emulator.fraud import FraudPlan, Label
from pipeline.layout import Layout
from pipeline.warehouse.build import BuildResult, build_warehouse
from tests.kits.risk import labelled_lake, labels_of

FIRST = date(2026, 6, 1)
ROWS = 4000


@dataclass(frozen=True)
class RiskLake:
    layout: Layout
    plan: FraudPlan
    fraud_day: date
    labels: list[Label]
    daily_build: BuildResult


@pytest.fixture(scope="session")
def risk_lake(tmp_path_factory: pytest.TempPathFactory) -> RiskLake:
    root = tmp_path_factory.mktemp("risk")
    layout = Layout(root / "data")
    plan = labelled_lake(layout, root / "gen", FIRST, days=3, fraud_days=1, rows=ROWS)
    fraud_day = FIRST + timedelta(days=2)
    first = build_warehouse(layout, DateWindow(FIRST, fraud_day - timedelta(days=1)))
    assert first.passed, first.failed_checks
    daily = build_warehouse(layout, DateWindow(fraud_day, fraud_day))
    assert daily.passed, daily.failed_checks
    return RiskLake(layout, plan, fraud_day, labels_of(fraud_day, ROWS, plan), daily)


@pytest.fixture
def data_dir(risk_lake: RiskLake) -> Path:
    return risk_lake.layout.data_dir
