"""Fixtures: a lake with one landed day per licensor, Web API clients, and emulators with faults."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from pipeline.clients.bulk_api import BulkApiClient
from pipeline.emulator import EmulatorConfig, FaultPlan, RunningEmulator, start_emulator
from pipeline.ingest.load import load_report
from pipeline.layout import Layout
from pipeline.reports import REPORTS
from tests.conftest import EMULATOR_TODAY, LOADED_DAY
from tests.kits.fake_lake import copy_lake
from tests.kits.settings import emulator_connection


async def _land(emu: RunningEmulator, layout: Layout) -> None:
    cfg = emu.config
    async with BulkApiClient(emulator_connection(emu)) as client:
        for licensor in cfg.licensors:
            for report in REPORTS:
                await load_report(client, layout, report, licensor, LOADED_DAY)


@pytest.fixture(scope="session")
def landed(emulator: RunningEmulator, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A data directory with every report landed for both licensors on LOADED_DAY (load once)."""
    data_dir = tmp_path_factory.mktemp("enrichment") / "data"
    asyncio.run(_land(emulator, Layout(data_dir)))
    return data_dir


@pytest.fixture
def layout(landed: Path, tmp_path: Path) -> Layout:
    """A fresh copy of the landed lake (no catalog yet) for one test."""
    data_dir = tmp_path / "data"
    copy_lake(landed, data_dir)
    return Layout(data_dir)


@pytest.fixture
def make_emulator(tmp_path: Path) -> Iterator[Callable[..., RunningEmulator]]:
    """Emulators with the session emulator's catalog (same seed and licensors) and the given faults;
    an extended-quota Web API app unless `web_api_mode="development"`."""
    started: list[RunningEmulator] = []

    def make(*faults: str, web_api_mode: str = "extended") -> RunningEmulator:
        config = EmulatorConfig(
            today=EMULATOR_TODAY,
            faults=FaultPlan.parse(list(faults)),
            cache_dir=tmp_path / "emu-cache",
            web_api_mode=web_api_mode,
        )
        started.append(start_emulator(config))
        return started[-1]

    yield make
    for emu in started:
        emu.stop()
