"""Fixtures for warehouse tests: a small consistent lake written with the declared schemas.

The lake and its first build are made once per session and copied for each test (tests change
their copy freely); the copy's catalog still points at the template's identical snapshot until
the test's first build publishes its own.
"""

from __future__ import annotations

import shutil
from datetime import date
from pathlib import Path

import pytest

from pipeline.layout import Layout
from pipeline.warehouse.build import BuildResult, build_warehouse
from tests.kits.fake_lake import FIRST_DAY, write_lake

DAYS = 5


@pytest.fixture(scope="session")
def template(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, BuildResult]:
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
def built(layout: Layout, template: tuple[Path, BuildResult]) -> BuildResult:
    """The lake of `lake_days`, already built: a copy of the session's template."""
    source, result = template
    shutil.copytree(source, layout.data_dir, symlinks=True)
    return result


@pytest.fixture
def built_days(built: BuildResult) -> list[date]:
    assert built.window is not None and built.window.start == FIRST_DAY
    return list(built.window)
