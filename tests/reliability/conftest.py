"""Fixtures of the reliability suite: an emulator whose faults each test sets, and a clean reference day."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from pipeline.emulator import EmulatorConfig, FaultPlan, RunningEmulator, start_emulator
from tests.conftest import EMULATOR_TODAY, LOADED_DAY
from tests.kits.reliability import assert_no_partial_state, lake_state, load_day

LICENSOR = "acme"


@pytest.fixture(scope="package")
def fault_emulator(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningEmulator]:
    """One emulator for the suite (clean days are generated once); tests switch its faults."""
    config = EmulatorConfig(
        rows_per_day=300, today=EMULATOR_TODAY, cache_dir=tmp_path_factory.mktemp("reliability_cache")
    )
    with start_emulator(config) as running:
        yield running


@pytest.fixture
def emu(fault_emulator: RunningEmulator) -> Iterator[RunningEmulator]:
    """The suite's emulator, clean again (no faults, empty logs) after the test."""
    yield from cleaned(fault_emulator)


def cleaned(running: RunningEmulator) -> Iterator[RunningEmulator]:
    """A shared emulator for one test: logs emptied before, faults and logs cleared after."""
    running.clear_log()
    yield running
    running.set_faults(FaultPlan())
    running.clear_log()


@pytest.fixture(scope="package")
def clean(fault_emulator: RunningEmulator, tmp_path_factory: pytest.TempPathFactory) -> dict:
    """Every table of (acme, LOADED_DAY) loaded without faults: what each faulty run must match."""
    data_dir = tmp_path_factory.mktemp("clean") / "data"
    result = load_day(fault_emulator, data_dir, LICENSOR, LOADED_DAY)
    assert not result.failures, result.failures
    assert_no_partial_state(data_dir)
    state = lake_state(data_dir, LICENSOR, LOADED_DAY)
    assert all(rows for rows in state.values()), "the clean day should have rows in every table"
    return state


def data_dir_of(tmp_path: Path) -> Path:
    return tmp_path / "data"
