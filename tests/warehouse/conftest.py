"""Fixtures for warehouse tests: a small consistent lake written with the declared schemas.

Iceberg metadata names its files by absolute path, so a data directory copied elsewhere still reads
(and would commit into) the original's tables. The lake and the built warehouse are therefore made
once per session *in the one directory every test works in* (`home`), saved as copies, and put back
at that same path before each test that asks for them: each test gets a fresh, writable lake for
the price of a file copy instead of a load and a build. Tests run one at a time, so one home is
enough; a test that needs a second data directory makes its own.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import pytest

from pipeline.layout import Layout
from pipeline.storage.tables import release_local_lakes
from pipeline.warehouse.build import BuildResult, build_warehouse
from tests.kits.fake_lake import FIRST_DAY, write_lake

DAYS = 5


@dataclass(frozen=True)
class Saved:
    """The session's lake and built warehouse, saved from `home` to be put back there."""

    home: Path
    lake: Path
    built: Path
    days: list[date]
    result: BuildResult

    def restore(self, saved: Path | None) -> None:
        """`home` as `saved` left it (empty for None), alone in its parent, read through new catalog
        connections."""
        release_local_lakes()
        shutil.rmtree(self.home.parent, ignore_errors=True)  # and what a test put beside it
        if saved is None:
            self.home.mkdir(parents=True)
        else:
            shutil.copytree(saved, self.home, symlinks=True)


@pytest.fixture(scope="session")
def saved(tmp_path_factory: pytest.TempPathFactory) -> Saved:
    home = tmp_path_factory.mktemp("warehouse-home") / "data"
    copies = tmp_path_factory.mktemp("warehouse-saved")
    layout = Layout(home)
    days = write_lake(layout, days=DAYS)
    release_local_lakes()
    shutil.copytree(home, copies / "lake", symlinks=True)
    result = build_warehouse(layout)
    assert result.passed, result.failed_checks
    release_local_lakes()
    shutil.copytree(home, copies / "built", symlinks=True)
    return Saved(home, copies / "lake", copies / "built", days, result)


@pytest.fixture(scope="session")
def template(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, BuildResult]:
    """One built lake per session, for tests that only read it (never restored, never written)."""
    layout = Layout(tmp_path_factory.mktemp("template") / "data")
    write_lake(layout, days=DAYS)
    result = build_warehouse(layout)
    assert result.passed, result.failed_checks
    return layout.data_dir, result


@pytest.fixture
def layout(saved: Saved) -> Layout:
    """An empty data directory (the session's home, emptied)."""
    saved.restore(None)
    return Layout(saved.home)


@pytest.fixture
def lake_days(layout: Layout, saved: Saved) -> list[date]:
    """Five days x two licensors of consistent lake partitions (no warehouse yet)."""
    saved.restore(saved.lake)
    return list(saved.days)


@pytest.fixture
def built(layout: Layout, saved: Saved) -> BuildResult:
    """The lake of `lake_days`, already built."""
    saved.restore(saved.built)
    return saved.result


@pytest.fixture
def built_days(built: BuildResult) -> list[date]:
    assert built.window is not None and built.window.start == FIRST_DAY
    return list(built.window)
