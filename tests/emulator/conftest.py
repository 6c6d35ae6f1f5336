"""Fixtures for the emulator's own tests: emulators over real HTTP and a tiny Bulk API client."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from pipeline.emulator import EmulatorConfig, FaultPlan, RunningEmulator, start_emulator
from tests.kits.emulator_http import TODAY, Bulk


@pytest.fixture(scope="module")
def emu(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningEmulator]:
    """A clean emulator for the module (2000 rows per licensor-day)."""
    config = EmulatorConfig(today=TODAY, cache_dir=tmp_path_factory.mktemp("emu_cache"))
    with start_emulator(config) as running:
        yield running


@pytest.fixture(scope="module")
def bulk(emu: RunningEmulator) -> Iterator[Bulk]:
    client = Bulk(emu)
    yield client
    client.close()


@pytest.fixture
def make_emulator(tmp_path: Path) -> Iterator[Callable[..., RunningEmulator]]:
    """Start emulators with the given faults (strings) and config overrides; all stop at teardown."""
    started: list[RunningEmulator] = []

    def make(*faults: str, **overrides) -> RunningEmulator:
        overrides.setdefault("cache_dir", tmp_path / f"cache{len(started)}")
        overrides.setdefault("rows_per_day", 500)
        config = EmulatorConfig(today=TODAY, faults=FaultPlan.parse(list(faults)), **overrides)
        running = start_emulator(config)
        started.append(running)
        return running

    yield make
    for running in started:
        running.stop()
