"""Warehouses for the dashboard tests, made once per session from the emulator over real HTTP.

`demo_dir` is what the demo leaves behind (two days for both licensors, the catalog enriched on two
days, built); `dev_dir` is that lake enriched by a development-mode Web API app; `plain_dir` is the
same lake built without enrichment; `empty_dir` is a warehouse built from an empty lake. Tests that
change a warehouse take a copy (`copy_of`).
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from pipeline.emulator import RunningEmulator
from pipeline.layout import Layout
from pipeline.warehouse.build import build_warehouse
from tests.kits.dashboard import DAYS, enrich, land

ENRICHED_AT = datetime(2026, 6, 14, 9, 0, tzinfo=UTC)


def _build(data_dir: Path) -> Path:
    result = build_warehouse(Layout(data_dir))
    assert result.passed, result.failed_checks
    return data_dir


@pytest.fixture(scope="session")
def landed_dir(emulator: RunningEmulator, tmp_path_factory: pytest.TempPathFactory) -> Path:
    data_dir = tmp_path_factory.mktemp("dash_landed") / "data"
    land(emulator, Layout(data_dir), DAYS)
    return data_dir


@pytest.fixture(scope="session")
def demo_dir(emulator: RunningEmulator, landed_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    data_dir = tmp_path_factory.mktemp("dash_demo") / "data"
    shutil.copytree(landed_dir, data_dir)
    enrich(emulator, Layout(data_dir), ENRICHED_AT)
    enrich(emulator, Layout(data_dir), ENRICHED_AT + timedelta(days=1), kinds=("artists",))  # a 2nd day
    return _build(data_dir)


@pytest.fixture(scope="session")
def dev_dir(
    dev_emulator: RunningEmulator, landed_dir: Path, tmp_path_factory: pytest.TempPathFactory
) -> Path:
    """The demo's lake enriched through a development-mode Web API app (no popularity or followers)."""
    data_dir = tmp_path_factory.mktemp("dash_dev") / "data"
    shutil.copytree(landed_dir, data_dir)
    enrich(dev_emulator, Layout(data_dir), ENRICHED_AT)
    return _build(data_dir)


@pytest.fixture(scope="session")
def plain_dir(landed_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    data_dir = tmp_path_factory.mktemp("dash_plain") / "data"
    shutil.copytree(landed_dir, data_dir)
    return _build(data_dir)


@pytest.fixture(scope="session")
def empty_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _build(tmp_path_factory.mktemp("dash_empty") / "data")


@pytest.fixture
def copy_of(tmp_path: Path) -> Callable[[Path], Path]:
    """A private copy of a session warehouse's data directory (its catalog keeps reading the
    original's identical snapshot until the copy's first build publishes its own)."""

    def copy(source: Path) -> Path:
        target = tmp_path / "data"
        shutil.copytree(source, target, symlinks=True)
        return target

    return copy
