"""Warehouse measurements: a one-day build with short vs long history, and the top-50 query.

The lakes come from the warehouse engineer's generator (`tests/kits/bench_lakes.py`): DuckDB-made
streams with a 5,000-track catalog, plus every other table derived from them, for two licensors.
One lake of the longest span is generated (once, cached), the shorter ones are hard-linked copies of
its newest days. The top-tracks query reads the track-grain mart, whose size is set by the tracks
streamed per day, not by the stream rows: with 5,000 tracks (the emulator's catalogs hold
2,000-4,000) every track is streamed every day from ~100k rows/day on, so the mart is as large as a
1 M rows/day licensor's.
"""

from __future__ import annotations

import statistics
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

from pipeline.dates import DateWindow
from pipeline.layout import Layout

DONE = ".generated"


def _kit() -> Any:
    """The lake generator, imported late: it lives with the warehouse tests."""
    from tests.kits import bench_lakes as bench_build

    return bench_build


def prepare_lakes(root: Path, rows: int, spans: list[int]) -> dict[int, Path]:
    """Data directories holding the newest `span` days of one generated lake, per span."""
    kit = _kit()
    longest = max(spans)
    base = root / f"wh-r{rows}"
    source = base / f"d{longest}"
    if not (source / DONE).exists():
        import shutil

        shutil.rmtree(base, ignore_errors=True)
        kit.generate(Layout(source), longest, rows)
        (source / DONE).touch()
    dirs = {longest: source}
    for span in spans:
        if span == longest:
            continue
        target = base / f"d{span}"
        if not (target / DONE).exists():
            kit.copy_days(Layout(source), Layout(target), span)
            (target / DONE).touch()
        dirs[span] = target
    return dirs


def ensure_built(layout: Layout) -> None:
    """Build every lake date once (skipped when a warehouse is already there): the history."""
    from pipeline.warehouse.build import build_warehouse

    if not layout.warehouse_path.exists():
        result = build_warehouse(layout)
        if not result.passed:
            raise RuntimeError(f"full build failed checks: {result.failed_checks}")


def one_day_build(args: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    """Median wall of rebuilding the newest day (what the daily schedule does), after a full
    build of the history if there is none yet (so the child's peak RSS may be the full build's)."""
    from pipeline.warehouse.build import build_warehouse

    kit = _kit()
    layout = Layout(Path(args["data_dir"]))
    ensure_built(layout)
    walls = []
    for _ in range(args.get("repeats", 3)):
        started = time.perf_counter()
        result = build_warehouse(layout, DateWindow(kit.LAST_DAY, kit.LAST_DAY))
        walls.append(time.perf_counter() - started)
        if not result.passed:
            raise RuntimeError(f"one-day build failed checks: {result.failed_checks}")
    return args["rows"], {"seconds": statistics.median(walls), "runs": len(walls)}


def top_tracks_query(args: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    """Top 50 tracks over the whole span (`query.TOP_TRACKS_SQL`), catalog opened per query as the
    CLI does: the first (cold) run and the median of warm runs."""
    from pipeline.warehouse.query import TOP_TRACKS_SQL, connect_readonly

    kit = _kit()
    layout = Layout(Path(args["data_dir"]))
    ensure_built(layout)
    first = kit.LAST_DAY - timedelta(days=args["days"] - 1)
    times, result = [], []
    for _ in range(1 + args.get("repeats", 5)):
        started = time.perf_counter()
        con = connect_readonly(layout)
        try:
            result = con.execute(TOP_TRACKS_SQL, {"limit": 50}).fetchall()
        finally:
            con.close()
        times.append(time.perf_counter() - started)
    con = connect_readonly(layout)
    try:
        span = con.execute(
            "SELECT count(*), count(DISTINCT date), min(date) FROM fct_track_performance"
        ).fetchall()[0]
    finally:
        con.close()
    if len(result) != min(50, span[0]) or span[2] != first:
        raise RuntimeError(f"unexpected query result: {len(result)} rows, mart span {span}")
    return span[0], {"seconds": statistics.median(times[1:]), "cold_seconds": times[0], "days": span[1]}
