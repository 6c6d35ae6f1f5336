"""Fixtures for warehouse tests: a small consistent lake written with the declared schemas.

Each test writes and builds its own lake: Iceberg metadata names its files by absolute path, so a
data directory cannot be copied from a template and then written to (the copy's commits would
land in the template's tables).
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from pipeline.layout import Layout
from pipeline.warehouse.build import BuildResult, build_warehouse
from tests.kits.fake_lake import FIRST_DAY, write_lake

DAYS = 5


@pytest.fixture(scope="session")
def template(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, BuildResult]:
    """One built lake per session, for tests that only read it."""
    layout = Layout(tmp_path_factory.mktemp("template") / "data")
    write_lake(layout, days=DAYS)
    result = build_warehouse(layout)
    assert result.passed, result.failed_checks
    return layout.data_dir, result


@pytest.fixture
def layout(tmp_path: Path) -> Layout:
    return Layout(tmp_path / "data")


@pytest.fixture
def lake_days(layout: Layout) -> list[date]:
    """Five days x two licensors of consistent lake partitions (no warehouse yet)."""
    return write_lake(layout, days=DAYS)


@pytest.fixture
def built(layout: Layout) -> BuildResult:
    """The lake of `lake_days`, already built."""
    write_lake(layout, days=DAYS)
    result = build_warehouse(layout)
    assert result.passed, result.failed_checks
    return result


@pytest.fixture
def built_days(built: BuildResult) -> list[date]:
    assert built.window is not None and built.window.start == FIRST_DAY
    return list(built.window)
