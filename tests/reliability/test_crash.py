"""Crash safety: SIGKILL the loader at random points of its downloads, landings and the build.

After each kill no half partition is visible, every archive manifest matches its files, the
warehouse (if one was published) opens and answers, and a re-run completes with the same lake and
the same marts as an uninterrupted run. Three trials (one per phase) run by default; the slow
suite runs 21 more at random points (`uv run pytest -m slow`).
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from pipeline.warehouse.catalog import open_catalog
from tests.conftest import LOADED_DAY
from tests.kits import crash_driver
from tests.kits.reliability import assert_no_partial_state, lake_state, record
from tests.reliability.conftest import LICENSOR

ROOT = Path(__file__).resolve().parents[2]
PHASES = ("download", "landing", "build")
_VOLATILE = ("loaded_at", "fetched_at", "catalog_fetched_at", "built_at")


@dataclass(frozen=True)
class Reference:
    """An uninterrupted run: when each phase began, and what it left."""

    marks: tuple[tuple[str, float], ...]
    lake: dict
    marts: dict

    def window(self, phase: str) -> tuple[float, float]:
        """Seconds from a phase's marker to the next one (how long that phase ran)."""
        times = dict(self.marks)
        names = [name for name, _ in self.marks]
        following = names[names.index(phase) + 1]
        return times[phase], times[following] - times[phase]


def marts(data_dir: Path) -> dict[str, list[tuple]]:
    """Every fct_/dim_ view of the published warehouse, sorted, without time-of-load columns."""
    con = open_catalog(data_dir / "warehouse.duckdb")
    try:
        names = [
            n
            for (n,) in con.execute(
                "SELECT table_name FROM information_schema.tables WHERE table_schema = 'main' "
                "AND (table_name LIKE 'fct\\_%' ESCAPE '\\' OR table_name LIKE 'dim\\_%' ESCAPE '\\') "
                "ORDER BY 1"
            ).fetchall()
        ]
        found = {}
        for name in names:
            columns = [
                c
                for (c,) in con.execute(
                    "SELECT column_name FROM information_schema.columns WHERE table_name = ? "
                    "ORDER BY ordinal_position",
                    [name],
                ).fetchall()
                if c not in _VOLATILE
            ]
            select = ", ".join(f'"{c}"' for c in columns)
            found[name] = con.execute(f'SELECT {select} FROM "{name}" ORDER BY ALL').fetchall()
        return found
    finally:
        con.close()


@pytest.fixture
def env(fault_emulator, monkeypatch) -> dict[str, str]:
    config = fault_emulator.config
    values = {
        "SPOTIFY_BULK_API_URL": fault_emulator.bulk_api_url,
        "SPOTIFY_ACCOUNTS_URL": fault_emulator.accounts_url,
        "SPOTIFY_CLIENT_ID": config.client_id,
        "SPOTIFY_CLIENT_SECRET": config.client_secret,
    }
    for name, value in values.items():
        monkeypatch.setenv(name, value)
    return {**os.environ, "PYTHONPATH": str(ROOT)}


def _start(data_dir: Path, env: dict[str, str], log: Path) -> subprocess.Popen[str]:
    command = [
        sys.executable,
        "-m",
        "tests.kits.crash_driver",
        str(data_dir),
        LICENSOR,
        str(LOADED_DAY),
    ]
    with open(log, "w") as stderr:
        return subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=stderr, text=True)


@pytest.fixture(scope="module")
def reference(fault_emulator, tmp_path_factory) -> Reference:
    data_dir = tmp_path_factory.mktemp("crash_reference") / "data"
    config = fault_emulator.config
    fault_emulator.warm([LOADED_DAY], [LICENSOR])  # phase timings without the day's generation
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "SPOTIFY_BULK_API_URL": fault_emulator.bulk_api_url,
        "SPOTIFY_ACCOUNTS_URL": fault_emulator.accounts_url,
        "SPOTIFY_CLIENT_ID": config.client_id,
        "SPOTIFY_CLIENT_SECRET": config.client_secret,
    }
    proc = _start(data_dir, env, data_dir.parent / "stderr.log")
    out, _ = proc.communicate(timeout=180)
    assert proc.returncode == 0, (data_dir.parent / "stderr.log").read_text()
    marks = tuple((name, float(at)) for _, name, at in (line.split() for line in out.splitlines()))
    assert marks[-1][0] == "done"
    return Reference(marks, lake_state(data_dir, LICENSOR, LOADED_DAY), marts(data_dir))


def _trial(reference: Reference, env: dict[str, str], tmp_path: Path, rng: random.Random, phase: str) -> str:
    """Start the loader, kill it at a random moment of `phase`, check what it left, re-run it."""
    data_dir = tmp_path / "data"
    target = rng.choice([name for name, _ in reference.marks if name.startswith(phase)])
    _, length = reference.window(target)
    delay = rng.uniform(0.0, length)
    proc = _start(data_dir, env, tmp_path / "stderr.log")
    killed = False
    try:
        assert proc.stdout is not None
        for line in proc.stdout:
            if line.split()[1] == target:
                time.sleep(delay)
                killed = proc.poll() is None
                proc.send_signal(signal.SIGKILL)  # our own child, by its pid
                break
    finally:
        proc.kill()
        proc.wait(timeout=30)
    # What a reader sees now: only complete partitions, equal to the clean ones.
    assert_no_partial_state(data_dir)
    visible = lake_state(data_dir, LICENSOR, LOADED_DAY)
    for table, rows in visible.items():
        assert rows is None or rows == reference.lake[table], f"{table} differs after the kill"
    if (data_dir / "warehouse.duckdb").exists():
        assert marts(data_dir) == reference.marts  # the build published all or nothing
    # The re-run completes with the clean result.
    crash_driver.run(data_dir, LICENSOR, LOADED_DAY)
    assert_no_partial_state(data_dir)
    assert lake_state(data_dir, LICENSOR, LOADED_DAY) == reference.lake
    assert marts(data_dir) == reference.marts
    complete = sum(rows is not None for rows in visible.values())
    when = f"SIGKILL {delay:.3f} s into {target}" if killed else f"finished before the kill in {target}"
    outcome = f"{when}; {complete} of {len(visible)} tables visible and complete; re-run identical"
    record("crash trials", f"{phase} ({target})", outcome)
    return outcome


@pytest.mark.parametrize("phase", PHASES)
def test_sigkill_during_a_phase_leaves_no_half_partition(reference, env, tmp_path, phase):
    _trial(reference, env, tmp_path, random.Random(f"crash-{phase}"), phase)


@pytest.mark.slow
@pytest.mark.parametrize("trial", range(21))
def test_sigkill_at_random_points(reference, env, tmp_path, trial):
    rng = random.Random(trial)
    _trial(reference, env, tmp_path, rng, PHASES[trial % len(PHASES)])
