"""`spotify-bulk load` when the Bulk API refuses: the exit code and the lines an operator reads.

In-process (`pipeline.cli.main.main`) against emulators of their own: a misspelled licensor that is
in SPOTIFY_LICENSORS, a file without data, a quota ban.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from pipeline.cli.main import main
from pipeline.emulator import EmulatorConfig, FaultPlan, RunningEmulator, start_emulator
from tests.conftest import EMULATOR_TODAY, LOADED_DAY

DAY = LOADED_DAY.isoformat()


@pytest.fixture
def start(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, emulator_cache: Path
) -> Iterator[Callable[..., RunningEmulator]]:
    """Start an emulator with faults and point the CLI's environment at it (licensors as given)."""
    running: list[RunningEmulator] = []

    def begin(licensors: str, *faults: str) -> RunningEmulator:
        config = EmulatorConfig(
            rows_per_day=600, today=EMULATOR_TODAY, cache_dir=emulator_cache, faults=FaultPlan.parse(faults)
        )
        emu = start_emulator(config)
        running.append(emu)
        (tmp_path / "dagster_home").mkdir(exist_ok=True)
        for name, value in {
            "SPOTIFY_BULK_API_URL": emu.bulk_api_url,
            "SPOTIFY_ACCOUNTS_URL": emu.accounts_url,
            "SPOTIFY_WEB_API_URL": emu.web_api_url,
            "SPOTIFY_CLIENT_ID": config.client_id,
            "SPOTIFY_CLIENT_SECRET": config.client_secret,
            "SPOTIFY_BULK_DATA_DIR": str(tmp_path / "data"),
            "SPOTIFY_LICENSORS": licensors,
            "SPOTIFY_BULK_STEP_RETRIES": "0",
            "DAGSTER_HOME": str(tmp_path / "dagster_home"),
        }.items():
            monkeypatch.setenv(name, value)
        monkeypatch.chdir(tmp_path)
        return emu

    yield begin
    for emu in running:
        emu.stop()


def _load(*args: str) -> int:
    return main(["load", "--date", DAY, "--workers", "1", "--report", "users", *args])


def test_a_misspelled_licensor_exits_non_zero_naming_it_and_an_empty_file_is_shown(start, capsys):
    start("acme,acme-recrods", "empty:report=users")
    code = _load("--licensor", "acme", "--licensor", "acme-recrods")
    out, err = capsys.readouterr()
    assert code == 1
    assert f"{DAY} acme: 0 rows; files without data: users_{DAY}.json.gz" in out
    assert (
        "unknown licensor 'acme-recrods' (404 at /acme-recrods/enhanced/users): "
        "check SPOTIFY_LICENSORS against your welcome email"
    ) in err
    assert "1 of 2 partition runs succeeded" in out


def test_a_quota_ban_ends_the_load_in_seconds_and_prints_when_to_resume(start, capsys):
    start("acme", "quota_ban:retry_after=72000,scope=bulk")
    window = ["--start", "2026-06-10", "--end", DAY]  # three partitions: only the first one runs
    started = time.monotonic()
    code = main(["load", "--licensor", "acme", "--report", "users", "--workers", "1", *window])
    seconds = time.monotonic() - started
    out, err = capsys.readouterr()
    assert code == 1
    assert "Spotify asked to wait 20.0 h (quota exceeded)" in err and "resume after 20" in err
    resume = err.split("resume after ", 1)[1][:17]
    assert f"Stopped: Spotify asked to wait until {resume} (UTC); 2 partition run(s) not started" in err
    assert "[1/3]" in out and "[2/3]" not in out
    run_seconds = float(re.search(r"\[1/3\] .* \(([0-9.]+) s\)", out).group(1))  # the partition run
    assert run_seconds < 10 and seconds < 60, (run_seconds, seconds)  # the rest: building definitions
    print(f"quota-ban CLI: partition run {run_seconds:.1f} s, whole command {seconds:.1f} s")


def test_a_quota_ban_with_two_workers_starts_no_run_after_it_and_reports_each_run_once(start, capsys):
    """This process runs partitions beside the worker process: a ban either meets stops the
    launches, and every run that did start is reported once."""
    start("acme", "quota_ban:retry_after=72000,scope=bulk")
    window = ["--start", "2026-06-05", "--end", DAY]  # eight partitions
    code = main(["load", "--licensor", "acme", "--report", "users", "--workers", "2", *window])
    out, err = capsys.readouterr()
    assert code == 1
    ran = re.findall(r"^\[(\d)/8\] (\S+) acme: FAILED: .*quota exceeded", out, flags=re.MULTILINE)
    assert 2 <= len(ran) <= 4, out  # this process's run and the worker's two (running, next)
    assert sorted(int(n) for n, _ in ran) == list(range(1, len(ran) + 1))
    assert len({day for _, day in ran}) == len(ran)  # no partition twice
    assert "Stopped: Spotify asked to wait until " in err
    assert f"; {8 - len(ran)} partition run(s) not started" in err
