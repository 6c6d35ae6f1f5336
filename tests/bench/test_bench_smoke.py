"""The benchmark harness runs end to end at tiny sizes, so it cannot rot (no timing thresholds)."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from bench import report
from bench.data import SHAPES

REPO = Path(__file__).resolve().parents[2]
LANDING_PATHS = {report.GZIP, report.ISAL, report.PEER, "naive: pandas", report.LAND}
STARTUP_PATHS = {
    report.HELP,
    report.TINY_LOAD,
    report.DEMO,
    "spotify-bulk load, 2-day backfill (1 licensor)",
}
EXPECTED = {
    *(("landing", p) for p in LANDING_PATHS),
    ("e2e", report.E2E),
    *(("startup", p) for p in STARTUP_PATHS),
    ("warehouse", "full rebuild"),
    ("warehouse", "one-day build"),
    ("warehouse", "one-day build after retention"),
    ("warehouse", "one-day Dagster warehouse_job"),
    ("query", "top-50 tracks (fct_track_performance)"),
}


@pytest.mark.slow  # ~2 min: every bench path, the demo and two warehouse spans, each in a child process
def test_quick_bench_produces_every_row_with_sane_numbers(tmp_path):
    out = tmp_path / "results.json"
    done = subprocess.run(
        [sys.executable, "-m", "bench", "--quick", "--workdir", str(tmp_path / "work"), "--json", str(out)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    rows = json.loads(out.read_text())
    assert {(r["section"], r["path"]) for r in rows} == EXPECTED
    for shape in SHAPES:  # every landing path on every day shape (naive on the first only)
        paths = {r["path"] for r in rows if r["size"] == f"3k {shape}" and r["section"] == "landing"}
        assert paths | {"naive: pandas"} == LANDING_PATHS, shape
    assert sum(r["section"] == "warehouse" for r in rows) == 8  # four paths, short and long history
    assert sum(r["section"] == "query" for r in rows) == 2
    retention = [r for r in rows if r["path"] == "one-day build after retention"]
    assert all(r["extra"]["rebuilt"] == [] for r in retention)  # retention rebuilt no dimension state
    for shape in SHAPES:  # same bytes, every row, on every path of a shape (zipf and single: the same rows)
        landed = {r["path"]: r["rows"] for r in rows if r["size"] == f"3k {shape}"}
        assert len(set(landed.values())) == 1 and next(iter(landed.values())) > 1000, landed
    landed = [r for r in rows if r["path"] == report.LAND]
    assert all(r["extra"]["rejected"] == 0 for r in landed)
    for r in rows:
        assert r["seconds"] > 0 and r["peak_rss_mb"] > 10 and r["cpu"] >= 0, r
        assert r["user"] + r["sys"] == pytest.approx(r["cpu"]), r
    assert "| target | measured | met |" in done.stdout
    assert "ours/peer" in done.stdout and "sys/user" in done.stdout
    assert "cores" in done.stdout and "load average" in done.stdout


def test_rounds_of_one_path_combine_into_medians():
    from bench.measure import Measurement, combine

    def one(seconds: float, rss: float, build_cpu: float) -> Measurement:
        return Measurement(
            "warehouse", "one-day build", "7 days", 10, seconds, seconds, rss, 1.0, 1,
            user=seconds, extra={"build_cpu": build_cpu, "note": f"{seconds}"},
        )  # fmt: skip

    combined = combine([one(3.0, 300, 2.0), one(1.0, 500, 9.0), one(2.0, 400, 1.0)])
    assert (combined.seconds, combined.user, combined.peak_rss_mb, combined.runs) == (2.0, 2.0, 500, 3)
    assert combined.extra == {"build_cpu": 2.0, "note": "2.0", "rounds": 3}
    assert combine([one(3.0, 300, 2.0)]) == one(3.0, 300, 2.0)
