"""The reliability figures list every recorded case, whether one process ran the tests or xdist's workers."""

from __future__ import annotations

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

pytest_plugins = ["pytester"]

CASES = """
import pytest
from tests.kits.figures import record

@pytest.fixture(scope="module")
def recorded_in_setup():
    record("faults", "setup-case", "recovered")

@pytest.mark.parametrize("n", range(6))
def test_case(n, recorded_in_setup):
    record("crash trials", f"case {n}", "no half partition")
"""


@pytest.mark.parametrize("workers", [["-p", "no:xdist"], ["-n", "2"]])
def test_every_case_reaches_the_summary(pytester: pytest.Pytester, monkeypatch, workers: list[str]):
    monkeypatch.setenv("PYTHONPATH", str(ROOT))
    pytester.makepyfile(test_cases=CASES)
    result = pytester.runpytest_subprocess(
        "-p", "tests.kits.figures", "-o", "addopts=", "--rootdir", str(pytester.path), *workers
    )
    result.assert_outcomes(passed=6)
    start = next(i for i, line in enumerate(result.outlines) if "reliability figures" in line)
    lines = result.outlines[start:]
    assert "crash trials: 6" in lines
    assert sorted(line.strip() for line in lines if line.startswith("  case ")) == [
        f"case {n}: no half partition" for n in range(6)
    ]
    assert any(line.startswith("faults: ") for line in lines)  # once per module per process that ran it
    assert "  setup-case: recovered" in lines
