"""The benchmark harness runs end to end at tiny sizes, so it cannot rot (no timing thresholds)."""

import json
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
EXPECTED = {
    ("landing", "bound: gzip -dc"),
    ("landing", "bound: python zlib"),
    ("landing", "naive: pandas"),
    ("landing", "ours: land"),
    ("e2e", "ours: e2e (Dagster, HTTP download + land)"),
    ("warehouse", "full rebuild"),
    ("warehouse", "one-day build"),
    ("warehouse", "one-day build after retention"),
    ("warehouse", "one-day Dagster warehouse_job"),
    ("query", "top-50 tracks (fct_track_performance)"),
}


def test_quick_bench_produces_every_row_with_sane_numbers(tmp_path):
    out = tmp_path / "results.json"
    done = subprocess.run(
        [sys.executable, "-m", "bench", "--quick", "--workdir", str(tmp_path / "work"), "--json", str(out)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    rows = json.loads(out.read_text())
    assert {(r["section"], r["path"]) for r in rows} == EXPECTED
    assert sum(r["section"] == "warehouse" for r in rows) == 8  # four paths, short and long history
    assert sum(r["section"] == "query" for r in rows) == 2
    retention = [r for r in rows if r["path"] == "one-day build after retention"]
    assert all(r["extra"]["rebuilt"] == [] for r in retention)  # retention rebuilt no dimension state
    landed = {r["path"]: r["rows"] for r in rows if r["section"] in ("landing", "e2e")}
    assert len(set(landed.values())) == 1 and next(iter(landed.values())) > 1000  # same bytes, every row
    for r in rows:
        assert r["seconds"] > 0 and r["peak_rss_mb"] > 10 and r["cpu"] >= 0, r
    assert "| target | measured | met |" in done.stdout
    assert "cores" in done.stdout and "load average" in done.stdout
