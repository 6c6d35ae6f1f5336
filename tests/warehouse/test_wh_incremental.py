"""Incremental windows, full refresh, idempotency and late-arriving data."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

from pipeline.dates import DateWindow
from pipeline.layout import Layout
from pipeline.warehouse.build import BuildResult, build_warehouse
from pipeline.warehouse.catalog import open_catalog
from pipeline.warehouse.paths import WarehousePaths
from tests.kits.fake_lake import LICENSORS, delete_day, lake_tables, read_lake, write_day
from tests.kits.warehouse import ROLLING, file_hashes, file_states, filled, mart_fingerprints


def _streams_by_day(layout: Layout, mart: str = "fct_daily_streams") -> dict[tuple[str, date], int]:
    con = open_catalog(layout.warehouse_path)
    try:
        rows = con.execute(f"SELECT licensor, date, sum(streams) FROM {mart} GROUP BY ALL").fetchall()
        return {(r[0], r[1]): int(r[2]) for r in rows}
    finally:
        con.close()


def test_a_window_build_touches_only_its_partitions(
    layout: Layout, built: BuildResult, built_days: list[date]
):
    before = file_states(layout)
    day = built_days[1]
    result = build_warehouse(layout, DateWindow(day, day))
    after = file_states(layout)
    assert result.passed and result.window == DateWindow(day, day)
    changed = {path for path in before if before[path] != after[path]}
    in_window = {p for p in before if f"date={day:%Y-%m-%d}" in p}
    rolling_forward = {p for p in before if p.split("/")[0] in ROLLING and "date=" in p}
    dims = {p for p in before if p.startswith("dim_")}
    # Exactly the window's partitions (plus the later days' rolling sums and the small dims) changed.
    assert changed - dims == (
        in_window | {p for p in rolling_forward if p.split("date=")[1][:10] >= f"{day}"}
    )
    assert in_window <= changed
    untouched = {p for p in before if f"date={built_days[0]:%Y-%m-%d}" in p}
    assert untouched and not untouched & changed
    assert after.keys() == before.keys()
    by_model = {b.model: b for b in result.models}
    assert by_model["fct_daily_streams"].partitions_written == len(LICENSORS)
    assert by_model["fct_track_performance"].window == DateWindow(day, built_days[-1])


def test_rebuilds_are_idempotent_and_full_refresh_matches(
    layout: Layout, built: BuildResult, built_days: list[date]
):
    first, hashes = mart_fingerprints(layout), file_hashes(layout)
    assert filled(first)
    build_warehouse(layout, DateWindow(built_days[0], built_days[-1]))
    assert mart_fingerprints(layout) == first
    assert file_hashes(layout) == hashes  # byte-identical files, not only equal rows
    result = build_warehouse(layout, full_refresh=True)
    assert result.passed
    assert mart_fingerprints(layout) == first
    assert file_hashes(layout) == hashes


def test_late_data_republish_then_lookback_corrects_without_duplicates(
    layout: Layout, built: BuildResult, built_days: list[date]
):
    day = built_days[2]
    write_day(layout, "acme", day, variant=3)  # the emulator re-publishes the day with more streams
    expected = sum(1 for s in read_lake(layout, "streams") if s["licensor"] == "acme" and s["date"] == day)
    assert expected == 60 + 21
    before = _streams_by_day(layout)
    assert before[("acme", day)] == 60  # the published catalog still shows the old, complete state
    lookback = DateWindow(built_days[-1] - timedelta(days=3), built_days[-1])  # the schedule's look-back
    result = build_warehouse(layout, lookback)
    assert result.passed, result.failed_checks
    after = _streams_by_day(layout)
    assert after[("acme", day)] == expected
    assert {k: v for k, v in after.items() if k != ("acme", day)} == {
        k: v for k, v in before.items() if k != ("acme", day)
    }
    perf = _streams_by_day(layout, "fct_track_performance")
    assert perf[("acme", day)] == expected
    con = open_catalog(layout.warehouse_path)
    dupes = con.execute(
        "SELECT count(*) FROM (SELECT licensor, date, track_id FROM fct_track_performance "
        "GROUP BY ALL HAVING count(*) > 1)"
    ).fetchone()
    later = con.execute(
        "SELECT sum(streams_7d) FROM fct_track_performance WHERE licensor = 'acme' AND date = $d",
        {"d": built_days[-1]},
    ).fetchone()
    con.close()
    assert dupes == (0,)
    all_acme = sum(1 for s in read_lake(layout, "streams") if s["licensor"] == "acme")
    assert later == (all_acme,)  # 5 days < 7: the last day's 7-day sums cover every acme stream


def test_a_day_gone_from_the_lake_leaves_no_stale_mart_rows(
    layout: Layout, built: BuildResult, built_days: list[date]
):
    day = built_days[3]
    delete_day(layout, "globex", day)
    build_warehouse(layout, DateWindow(day, day))
    assert ("globex", day) not in _streams_by_day(layout)
    assert ("acme", day) in _streams_by_day(layout)
    assert ("globex", day) not in WarehousePaths(layout).marts.files("fct_daily_streams")


def test_empty_lake_publishes_empty_views_with_columns(layout: Layout):
    result = build_warehouse(layout)
    assert result.passed and result.window is None
    con = open_catalog(layout.warehouse_path)
    assert con.execute("SELECT count(*) FROM fct_track_performance").fetchone() == (0,)
    assert con.execute("SELECT count(*) FROM stg_streams").fetchone() == (0,)
    columns = [r[0] for r in con.execute("DESCRIBE fct_daily_streams").fetchall()]
    assert columns[:3] == ["licensor", "date", "track_id"]
    assert con.execute("SELECT count(*) FROM dim_country").fetchone()[0] >= 249
    con.close()


def test_a_model_whose_columns_change_is_rebuilt_over_all_dates(layout: Layout, built: BuildResult, tmp_path):
    import shutil

    from pipeline.warehouse.models import SQL_ROOT

    sql_root = tmp_path / "sql"
    shutil.copytree(SQL_ROOT, sql_root)
    path = sql_root / "marts" / "fct_playlist_streams.sql"
    path.write_text(path.read_text().replace("count(*) AS streams,", "count(*) AS streams, 1 AS added,"))
    last = built.window.end
    result = build_warehouse(layout, DateWindow(last, last), sql_root=sql_root)
    by_model = {b.model: b for b in result.models}
    assert by_model["fct_playlist_streams"].window == built.window  # every date, not only the asked one
    assert by_model["fct_daily_streams"].window == DateWindow(last, last)
    con = open_catalog(layout.warehouse_path)
    assert con.execute("SELECT count(*), min(added) FROM fct_playlist_streams").fetchone()[1] == 1
    con.close()


def test_a_day_build_opens_only_that_days_lake_files(
    layout: Layout, built: BuildResult, built_days: list[date]
):
    """Cost follows the window, not the history: unreadable files on other days are never opened.

    (`tracks` and `aggregated_summary` are left intact: the dimensions' accumulated state holds
    their old days and would be rebuilt from them if their files changed; test_wh_accumulators
    shows the day build opening none of them either while they are unchanged.)
    """
    old = built_days[0]
    for table in (
        "streams",
        "sub30_streams",
        "users",
        "aggregated_count",
        "aggregated_skips",
        "aggregated_saves",
    ):
        for path in lake_tables(layout).files(table)[("globex", old)]:
            Path(path).write_bytes(b"not parquet at all")
    day = built_days[-1]
    result = build_warehouse(layout, DateWindow(day, day))
    assert result.passed
    assert {b.model: b.partitions_written for b in result.models}["fct_daily_streams"] == 2
