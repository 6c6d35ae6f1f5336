"""`python -m bench --only risk` runs end to end at a tiny size and reports every row and target."""

import subprocess
import sys
from pathlib import Path

import pytest

from pipeline.emulator.fraud import PATTERNS

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_the_risk_bench_reports_each_pattern_and_the_targets(tmp_path):
    done = subprocess.run(
        [sys.executable, "-m", "bench", "--only", "risk", "--quick", "--workdir", str(tmp_path / "work")],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    rows = {line.split("|")[1].strip(): line for line in done.stdout.splitlines() if line.startswith("| ")}
    assert set(PATTERNS) <= set(rows)
    assert "| 0.00 |" in rows["super_fan"] and "| yes |" in rows["bot_farm"]
    assert "precision over all flagged track-days" in rows and "risk models' cost" in rows
