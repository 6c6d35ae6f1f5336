"""Concurrency: two loads of one partition at once leave one complete version; builds during loads.

The second load of a report-day waits for the first (a lock per report-day around fetch and
land), so the lake is always built from exactly the archive beside it, never from two.
"""

from __future__ import annotations

import asyncio
import threading
from dataclasses import replace

from pipeline.emulator import start_emulator
from pipeline.ingest.archive import read_manifest
from pipeline.layout import Layout
from pipeline.warehouse.build import build_warehouse
from tests.conftest import LOADED_DAY
from tests.kits.reliability import (
    assert_no_partial_state,
    lake_state,
    load_day,
    load_day_async,
    record,
    report_named,
)
from tests.reliability.conftest import LICENSOR

from .test_crash import marts

REPORTS = (report_named("streams"), report_named("users"))


def test_two_loads_of_one_partition_at_once_leave_one_complete_version(fault_emulator, tmp_path):
    """Version 0 and a re-published version 1 of the day, loaded into one data directory at once."""
    config = replace(fault_emulator.config, faults=fault_emulator.config.faults)
    with start_emulator(config) as republished:
        republished.republish(LICENSOR, LOADED_DAY, 1)
        versions = {}
        for name, emu in (("v0", fault_emulator), ("v1", republished)):
            versions[name] = lake_state(_load_alone(emu, tmp_path / name), LICENSOR, LOADED_DAY)
        assert versions["v0"]["streams"] != versions["v1"]["streams"]
        data_dir = tmp_path / "shared"
        for round_ in range(2):
            barrier = threading.Barrier(2)
            errors: list[BaseException] = []

            def load(emu, barrier=barrier, errors=errors) -> None:
                try:
                    barrier.wait()
                    result = asyncio.run(load_day_async(emu, data_dir, LICENSOR, LOADED_DAY, reports=REPORTS))
                    assert not result.failures, result.failures
                except BaseException as exc:
                    errors.append(exc)

            threads = [threading.Thread(target=load, args=(emu,)) for emu in (fault_emulator, republished)]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join(timeout=120)
            assert errors == []
            assert_no_partial_state(data_dir)
            state = lake_state(data_dir, LICENSOR, LOADED_DAY)
            winners = []
            for report in REPORTS:
                table = report.tables[0].name
                winner = next(v for v, rows in versions.items() if rows[table] == state[table])
                # The lake partition was landed from exactly the archive now published beside it.
                archive = read_manifest(Layout(data_dir).archive_partition(report.name, LICENSOR, LOADED_DAY))
                reference = Layout(tmp_path / winner).archive_partition(report.name, LICENSOR, LOADED_DAY)
                assert [(f.name, f.sha256) for f in archive.files] == [
                    (f.name, f.sha256) for f in read_manifest(reference).files
                ]
                winners.append(f"{report.name}={winner}")
            record(
                "concurrency",
                f"two loads of one partition, round {round_ + 1}",
                f"one complete version ({', '.join(winners)})",
            )


def _load_alone(emu, data_dir):
    result = load_day(emu, data_dir, LICENSOR, LOADED_DAY, reports=REPORTS)
    assert not result.failures, result.failures
    return data_dir


def test_builds_while_loads_replace_the_partitions_are_safe(fault_emulator, tmp_path):
    data_dir = tmp_path / "data"
    assert not load_day(fault_emulator, data_dir, LICENSOR, LOADED_DAY).failures
    layout = Layout(data_dir)
    first = build_warehouse(layout)
    assert first.passed
    expected = marts(data_dir)
    stop = threading.Event()
    errors: list[BaseException] = []
    loads = 0

    def keep_loading() -> None:
        nonlocal loads
        try:
            while not stop.is_set():
                result = load_day(fault_emulator, data_dir, LICENSOR, LOADED_DAY, reports=REPORTS)
                assert not result.failures, result.failures
                loads += 1
        except BaseException as exc:
            errors.append(exc)

    loader = threading.Thread(target=keep_loading)
    loader.start()
    try:
        builds = 0
        while builds < 2 or loads < 2:
            result = build_warehouse(layout)
            assert result.passed, result.failed_checks
            assert marts(data_dir) == expected
            builds += 1
    finally:
        stop.set()
        loader.join(timeout=120)
    assert errors == []
    assert_no_partial_state(data_dir)
    record(
        "concurrency",
        "builds while loads replace partitions",
        f"{builds} builds during {loads} loads: all passed, marts identical",
    )
