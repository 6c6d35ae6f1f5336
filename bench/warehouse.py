"""Warehouse measurements per history length: the full rebuild, the one-day build (library and the
Dagster warehouse job), the one-day build right after retention removed the oldest day, and the
top-50 query; every one in its own process, so each peak RSS is that process's own.

The lakes come from the warehouse engineer's generator (`tests/kits/bench_lakes.py`): DuckDB-made
streams with a 5,000-track catalog, plus every other table derived from them, for two licensors.
Each span's lake is generated once (cached): the newest days one commit per licensor-day as the
daily load makes them, older ones a month per commit as a backfill would, old snapshots expired; the
same seeds give every span the same rows for the same day. The top-tracks query reads the
track-grain mart, whose size is set by the tracks streamed per day, not by the stream rows: with
5,000 tracks (the emulator's catalogs hold 2,000-4,000) every track is streamed every day from ~100k
rows/day on, so the mart is as large as a 1 M rows/day licensor's.
"""

from __future__ import annotations

import statistics
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

from bench.measure import run_child
from pipeline.dates import DateWindow
from pipeline.layout import Layout

DONE = ".generated-v2"  # lakes of the current generator (merged manifests, old snapshots expired)


def _kit() -> Any:
    """The lake generator, imported late: it lives with the warehouse tests."""
    from tests.kits import bench_lakes as bench_build

    return bench_build


def prepare_lakes(root: Path, rows: int, spans: list[int]) -> dict[int, Path]:
    """A generated lake per span (once, cached): the same rows for the same days in every span.

    Each is generated in a child process (`generate_lake`), not here: the children measured after it
    would report this process's peak RSS as their own (Linux keeps it across fork and exec)."""
    base = root / f"wh-r{rows}"
    dirs = {}
    for span in spans:
        target = base / f"d{span}"
        if not (target / DONE).exists():
            import shutil

            shutil.rmtree(target, ignore_errors=True)
            run_child("wh_lake", {"data_dir": str(target), "span": span, "rows": rows})
            (target / DONE).touch()
        dirs[span] = target
    return dirs


def generate_lake(args: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    """The child that generates one span's lake for `prepare_lakes`."""
    _kit().generate(Layout(Path(args["data_dir"])), args["span"], args["rows"])
    return 0, {}


def _options() -> Any:
    """The bounds every warehouse process gets from the settings (as the CLI and Dagster do), with
    no reader grace period: a daily schedule's build finds the previous day's snapshots past any
    grace and expires them, whereas builds a few seconds apart would pile up every build's
    snapshots in the marts' metadata, a cost no scheduled lake has."""
    import dataclasses

    from pipeline.config import load_settings
    from pipeline.warehouse.options import WarehouseOptions

    return dataclasses.replace(WarehouseOptions.from_settings(load_settings()), reader_grace_seconds=0.0)


def _check(result: Any, what: str) -> None:
    if not result.passed:
        raise RuntimeError(f"{what} failed checks: {result.failed_checks}")


def ensure_built(layout: Layout) -> None:
    """Build every lake date once (skipped when a warehouse is already there): the history."""
    from pipeline.warehouse.build import build_warehouse

    if not layout.warehouse_path.exists():
        _check(build_warehouse(layout, options=_options()), "full build")


def _stream_rows(layout: Layout) -> int:
    """Rows of the streams table at its current snapshot (from the Iceberg manifests)."""
    from pipeline.storage.tables import TableLake

    stats = TableLake.local(layout.data_dir).partition_stats("streams")
    return sum(rows for rows, _, _ in stats.values())


def full_rebuild(args: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    """`build --full-refresh` of every lake date (what a model change needs): wall, and throughput
    in stream rows and days per second."""
    from pipeline.warehouse.build import build_warehouse

    layout = Layout(Path(args["data_dir"]))
    started = time.perf_counter()
    result = build_warehouse(layout, full_refresh=True, options=_options())
    seconds = time.perf_counter() - started
    _check(result, "full rebuild")
    days = len(result.window) if result.window else 0
    return _stream_rows(layout), {"days": days, "days_per_second": round(days / seconds, 2)}


def _timed_day_builds(
    layout: Layout, repeats: int, before: Any = None
) -> tuple[list[float], Any, list[float]]:
    """Walls of `repeats` builds of the newest day (`before(i)` runs, untimed, before each), the
    last result, and each build's CPU seconds (every thread of the process: DuckDB's included)."""
    from pipeline.warehouse.build import build_warehouse

    kit = _kit()
    walls, cpus, result = [], [], None
    for i in range(repeats):
        if before is not None:
            before(i)
        started, cpu = time.perf_counter(), time.process_time()
        result = build_warehouse(layout, DateWindow(kit.LAST_DAY, kit.LAST_DAY), options=_options())
        walls.append(time.perf_counter() - started)
        cpus.append(time.process_time() - cpu)
        _check(result, "one-day build")
    return walls, result, cpus


def one_day_build(args: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    """Median wall of rebuilding the newest day (what the daily schedule does); the history is
    built already (by the full-rebuild child), else first, and then this child's peak RSS is its."""
    layout = Layout(Path(args["data_dir"]))
    ensure_built(layout)
    walls, _, cpus = _timed_day_builds(layout, args.get("repeats", 3))
    extra = {
        "seconds": statistics.median(walls),
        "runs": len(walls),
        "build_cpu": statistics.median(cpus),
        # The process's first build lists every table cold, as a scheduled run's fresh process does;
        # the median is of builds that reuse the lake's listings of unchanged snapshots.
        "first_cpu": cpus[0],
        "first_seconds": walls[0],
    }
    return args["rows"], extra


def retention_day_build(args: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    """The one-day build right after `retention` removed the oldest lake day: the median over
    repeats, each after retention took one more day; what was rebuilt is reported. Iceberg metadata
    names files by absolute path, so a copy elsewhere would still commit into (and purge files of) the
    original: retention runs on the built data directory in place, and a full copy saved before is
    put back afterwards."""
    import shutil

    from pipeline.orchestration.retention import apply_retention
    from pipeline.storage.tables import release_local_lakes

    kit = _kit()
    layout = Layout(Path(args["data_dir"]))
    ensure_built(layout)
    saved = Path(args["out_dir"]) / "saved-data"
    shutil.copytree(layout.data_dir, saved, symlinks=True)
    days = args["days"]
    first = kit.LAST_DAY - timedelta(days=days - 1)
    after = kit.LAST_DAY + timedelta(days=1)

    def retire(i: int) -> None:
        cutoff = first + timedelta(days=i + 1)
        apply_retention(layout, keep_days=(after - cutoff).days, today=after)

    try:
        walls, result, _ = _timed_day_builds(layout, max(1, min(args.get("repeats", 3), days - 1)), retire)
    finally:
        release_local_lakes()  # the put-back catalog.db is read through new connections
        shutil.rmtree(layout.data_dir)
        shutil.move(saved, layout.data_dir)
    rebuilt = sorted(a.name for a in result.accumulators if a.rebuilt or a.restarted_from is not None)
    return args["rows"], {"seconds": statistics.median(walls), "runs": len(walls), "rebuilt": rebuilt}


def dagster_day(args: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    """The one-day build as `spotify-bulk build --date` runs it: one run of the Dagster warehouse_job
    (one step calling `build_warehouse`, an asset event per model and check) on a persistent instance
    configured as a data directory's (`instance_config`), a day apart as the schedule's, with the
    library path's options (no reader grace period, see `_options`); median wall of the runs and the
    events one run stores."""
    from pipeline.config import load_settings
    from pipeline.definitions import build_definitions
    from pipeline.orchestration.instance import open_instance, render_instance_config
    from pipeline.orchestration.warehouse_runs import run_build

    kit = _kit()
    layout = Layout(Path(args["data_dir"]))
    ensure_built(layout)
    home = Path(args["out_dir"]) / "dagster"  # not in the lake: the lake is shared by every path
    home.mkdir()
    (home / "dagster.yaml").write_text(render_instance_config(home))
    settings = load_settings().with_changes(  # no reader grace period: as the library path's
        licensors=kit.LICENSORS, data_dir=layout.data_dir, dagster_home=home, reader_grace_seconds=0.0
    )
    defs = build_definitions(settings)
    walls = []
    for _ in range(args.get("repeats", 3)):
        started = time.perf_counter()
        result = run_build(settings, defs, DateWindow(kit.LAST_DAY, kit.LAST_DAY))
        walls.append(time.perf_counter() - started)
        _check(result, "the Dagster warehouse job")
    instance = open_instance(settings)
    try:
        run = instance.get_runs(limit=1)[0]
        events = len(instance.all_logs(run.run_id))
    finally:
        instance.dispose()
    return args["rows"], {"seconds": statistics.median(walls), "runs": len(walls), "events": events}


def top_tracks_query(args: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    """Top 50 tracks over the whole span (`query.TOP_TRACKS_SQL`), catalog opened per query as the
    CLI does (with the settings' bounds): the first (cold) run and the median of warm runs."""
    from pipeline.warehouse.query import TOP_TRACKS_SQL, connect_readonly

    kit = _kit()
    layout = Layout(Path(args["data_dir"]))
    ensure_built(layout)
    options = _options()
    first = kit.LAST_DAY - timedelta(days=args["days"] - 1)
    times, result = [], []
    for _ in range(1 + args.get("repeats", 5)):
        started = time.perf_counter()
        con = connect_readonly(layout, options)
        try:
            result = con.execute(TOP_TRACKS_SQL, {"limit": 50}).fetchall()
        finally:
            con.close()
        times.append(time.perf_counter() - started)
    con = connect_readonly(layout, options)
    try:
        span = con.execute(
            "SELECT count(*), count(DISTINCT date), min(date) FROM fct_track_performance"
        ).fetchall()[0]
    finally:
        con.close()
    if len(result) != min(50, span[0]) or span[2] != first:
        raise RuntimeError(f"unexpected query result: {len(result)} rows, mart span {span}")
    return span[0], {"seconds": statistics.median(times[1:]), "cold_seconds": times[0], "days": span[1]}
