"""Readers never blocked: queries in a loop (another process and a thread) during loads and builds.

Each query compares a mart's totals with the lake's totals *in the same published snapshot*; a
half-built or mixed state would make them differ. Zero errors and zero mismatches are required.
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from datetime import date
from pathlib import Path

from pipeline.dates import DateWindow
from pipeline.layout import Layout
from pipeline.warehouse.build import BuildResult, build_warehouse
from pipeline.warehouse.catalog import open_catalog
from tests.kits.fake_lake import write_day

STATE_SQL = """
SELECT
    (SELECT count(*) FROM lake.streams),
    (SELECT count(*) FROM stg_streams),
    (SELECT sum(streams) FROM fct_daily_streams),
    (SELECT sum(streams) FROM fct_track_performance),
    (SELECT count(*) FROM stg_sub30_streams),
    (SELECT sum(sub30_streams) FROM fct_track_performance),
    (SELECT snapshot FROM _warehouse_build)
"""

READER = f'''
import json, pathlib, sys, time
from pipeline.warehouse.catalog import open_catalog
path, stop, out = sys.argv[1:4]
queries, errors, bad, states = 0, 0, [], set()
while not pathlib.Path(stop).exists():
    try:
        con = open_catalog(pathlib.Path(path))
        try:
            row = con.execute("""{STATE_SQL}""").fetchone()
        finally:
            con.close()
        queries += 1
        if not (row[0] == row[1] == row[2] == row[3] and row[4] == row[5]):
            bad.append(str(row))
        states.add(row[6])
    except Exception as exc:
        errors += 1
        bad.append(repr(exc))
    time.sleep(0.01)  # a tight loop, leaving a 2-core CI box some room for the builds
result = {{"queries": queries, "errors": errors, "bad": bad[:5], "states": len(states)}}
pathlib.Path(out).write_text(json.dumps(result))
'''


def _thread_reader(path: Path, stop: threading.Event, tally: dict) -> None:
    while not stop.is_set():
        try:
            con = open_catalog(path)
            try:
                row = con.execute(STATE_SQL).fetchone()
            finally:
                con.close()
            tally["queries"] += 1
            if not (row[0] == row[1] == row[2] == row[3] and row[4] == row[5]):
                tally["bad"].append(row)
            tally["states"].add(row[6])
        except Exception as exc:
            tally["errors"] += 1
            tally["bad"].append(repr(exc))
        time.sleep(0.01)


def test_readers_see_only_complete_states_while_loads_and_builds_run(
    layout: Layout, built: BuildResult, built_days: list[date], tmp_path: Path
):
    stop_file, out_file = tmp_path / "stop", tmp_path / "reader.json"
    reader = subprocess.Popen(
        [sys.executable, "-c", READER, str(layout.warehouse_path), str(stop_file), str(out_file)]
    )
    stop = threading.Event()
    tally: dict = {"queries": 0, "errors": 0, "bad": [], "states": set()}
    thread = threading.Thread(target=_thread_reader, args=(layout.warehouse_path, stop, tally))
    thread.start()
    builds = 0
    try:
        time.sleep(0.3)
        for i in range(3):
            day = built_days[i % len(built_days)]
            write_day(layout, "acme", day, variant=1 + i % 3)  # a load re-publishing a day, totals change
            result = build_warehouse(layout, DateWindow(day, day))
            assert result.passed
            builds += 1
        time.sleep(0.5)  # let the readers see the last published state too
    finally:
        stop.set()
        stop_file.touch()
        thread.join(timeout=30)
        reader.wait(timeout=30)
    seen = json.loads(out_file.read_text())
    thread_seen = {"queries": tally["queries"], "errors": tally["errors"], "states": len(tally["states"])}
    print(f"\nconcurrent readers: {builds} load+build cycles; subprocess {seen}; thread {thread_seen}")
    assert seen["errors"] == 0 and seen["bad"] == [], seen
    assert tally["errors"] == 0 and tally["bad"] == [], tally["bad"][:3]
    assert seen["queries"] >= 15 and tally["queries"] >= 15
    assert seen["states"] >= 3 and len(tally["states"]) >= 3  # readers did see successive builds
