"""Dimensions built incrementally (accumulators) equal a build of the whole history in one pass.

The daily path folds one day at a time into each accumulator's base and the newest days on top;
these tests grow a lake day by day (with late and deleted days), build it the way the schedule
does, and require every mart, byte for byte, to equal one full build of the final lake, and the
dimensions to equal a one-pass query of the history written independently here.
"""

from __future__ import annotations

import os
import re
import shutil
import time
from datetime import date, timedelta
from pathlib import Path

import pyarrow as pa
import pytest
from pyiceberg.table.snapshots import Summary

from pipeline.dates import DateWindow
from pipeline.layout import Layout
from pipeline.orchestration.retention import apply_retention
from pipeline.storage.partition_columns import local_path
from pipeline.storage.tables import WHOLE
from pipeline.warehouse import accumulate
from pipeline.warehouse.build import build_warehouse
from pipeline.warehouse.catalog import open_catalog
from pipeline.warehouse.models import SQL_ROOT, ModelError, discover_accumulators, discover_models
from pipeline.warehouse.options import WarehouseOptions
from pipeline.warehouse.paths import WarehousePaths
from tests.kits.fake_lake import FIRST_DAY, LICENSORS, day_tables, delete_day, write_day, write_partition
from tests.kits.warehouse import file_hashes, mart_fingerprints

DAYS = [FIRST_DAY + timedelta(days=i) for i in range(7)]

# The dimensions' history-derived columns as one pass over every day (what the accumulators fold).
REFERENCE = {
    "dim_tracks": """
        SELECT licensor, track_id,
            arg_max(track_uri, date), arg_max(isrc, date), arg_max(track_name, date),
            arg_max(artist_names, date), arg_max(artists, date), arg_max(album_name, date),
            arg_max(album_uri, date), arg_max(upc, date), arg_max(label, date), arg_max(duration_ms, date),
            arg_max(release_date, date), arg_max(release_year, date), arg_max(is_explicit, date),
            min(date), max(date), count(*)
        FROM stg_tracks GROUP BY ALL ORDER BY ALL""",
    "dim_playlists": """
        SELECT licensor, playlist_id, sum(streams), count(DISTINCT track_id), min(date), max(date)
        FROM fct_playlist_streams GROUP BY ALL ORDER BY ALL""",
    "dim_artists": """
        WITH credits AS (
            SELECT licensor, date, track_id, unnest(artist_uris) AS uri, unnest(artist_names) AS name
            FROM stg_aggregated_summary
        )
        SELECT licensor, split_part(uri, ':', 3), count(DISTINCT track_id), min(date), max(date),
            arg_max(name, {'on': date, 'name': name}) FILTER (WHERE name IS NOT NULL)
        FROM credits WHERE uri LIKE 'spotify:artist:%' GROUP BY ALL ORDER BY ALL""",
}
BUILT = {
    "dim_tracks": """
        SELECT licensor, track_id, track_uri, isrc, track_name, artist_names, artists, album_name,
            album_uri, upc, label, duration_ms, release_date, release_year, is_explicit,
            first_seen_date, last_seen_date, days_streamed
        FROM dim_tracks ORDER BY ALL""",
    "dim_playlists": """
        SELECT licensor, playlist_id, streams, tracks_streamed, first_streamed_date, last_streamed_date
        FROM dim_playlists ORDER BY ALL""",
    "dim_artists": """
        SELECT licensor, artist_id, tracks_streamed, first_seen_date, last_seen_date, artist_name
        FROM dim_artists ORDER BY ALL""",
}


def _query(layout: Layout, queries: dict[str, str]) -> dict[str, list[tuple]]:
    con = open_catalog(layout.warehouse_path)
    try:
        return {name: con.execute(sql).fetchall() for name, sql in queries.items()}
    finally:
        con.close()


def _write_day(layout: Layout, licensor: str, day: date, *, variant: int = 0) -> None:
    """A fake-lake day whose track metadata changes over time (a rename, a label that goes missing)."""
    write_day(layout, licensor, day, variant=variant)
    index = DAYS.index(day)
    if index >= 2:
        tracks = day_tables(licensor, day, variant=variant)["tracks"]
        tracks[0] = {**tracks[0], "track_name": f"Renamed on day {min(index, 4)}"}
        if index >= 5:  # no label reported: the dimension keeps the latest one that was
            tracks[0] = {**tracks[0], "label": None, "album_name": f"Album as of day {index}"}
        write_partition(layout, "tracks", licensor, day, tracks)


def _summary(layout: Layout, name: str) -> Summary:
    """What the accumulator's current snapshot records about its state."""
    table = WarehousePaths(layout).accumulators.load(name)
    assert table is not None and table.current_snapshot() is not None
    return table.current_snapshot().summary  # type: ignore[union-attr]


def _recorded(layout: Layout, name: str) -> dict[str, str]:
    """The state's own properties in its summary (not Iceberg's counts)."""
    summary = _summary(layout, name).additional_properties
    return {k: v for k, v in summary.items() if k.startswith("accumulator.")}


def _dims_and_marts(layout: Layout) -> tuple[dict, dict]:
    dims = {p: h for p, h in file_hashes(layout).items() if p.startswith("dim_")}
    return mart_fingerprints(layout), dims


@pytest.fixture
def daily_tail() -> WarehouseOptions:
    """A one-day tail (no look-back): every daily build folds a day into the bases."""
    options = WarehouseOptions(lookback_days=0)
    assert options.tail_days == 1
    return options


def test_daily_builds_as_history_grows_equal_one_full_build(tmp_path: Path, daily_tail: WarehouseOptions):
    daily = Layout(tmp_path / "daily")
    for i, day in enumerate(DAYS):
        for licensor in LICENSORS:
            _write_day(daily, licensor, day)
        window = DateWindow(day, day)
        if i == 4:  # the Bulk API re-publishes an old day: the base holding it must be rebuilt
            _write_day(daily, "acme", DAYS[1], variant=3)
            window = DateWindow(DAYS[1], day)
        if i == 5:  # retention or an operator removes an old day
            delete_day(daily, "globex", DAYS[0])
            window = DateWindow(DAYS[0], day)
        result = build_warehouse(daily, window, options=daily_tail)
        assert result.passed, result.failed_checks
        assert _query(daily, BUILT) == _query(daily, REFERENCE)  # right at every step
    assert _summary(daily, "acc_tracks")[accumulate.THROUGH] == f"{DAYS[-2]}"  # all but the one-day tail

    whole = Layout(tmp_path / "whole")
    for day in DAYS:
        for licensor in LICENSORS:
            if (licensor, day) != ("globex", DAYS[0]):
                _write_day(whole, licensor, day, variant=3 if (licensor, day) == ("acme", DAYS[1]) else 0)
    assert build_warehouse(whole, options=daily_tail).passed
    assert _dims_and_marts(daily) == _dims_and_marts(whole)  # every mart; dimensions byte for byte
    assert _query(whole, BUILT) == _query(whole, REFERENCE)
    renamed = _query(
        whole, {"t": "SELECT DISTINCT track_name, label FROM dim_tracks WHERE track_name LIKE 'Ren%'"}
    )
    assert renamed["t"] == [("Renamed on day 4", "Label")]


def test_append_state_is_compacted_and_stays_equal(tmp_path: Path, daily_tail: WarehouseOptions, monkeypatch):
    monkeypatch.setattr(accumulate, "MAX_SEGMENTS", 2)
    layout = Layout(tmp_path / "data")
    for day in DAYS:
        for licensor in LICENSORS:
            _write_day(layout, licensor, day)
        assert build_warehouse(layout, DateWindow(day, day), options=daily_tail).passed
        assert len(WarehousePaths(layout).accumulators.files("acc_playlist_tracks").get(WHOLE, [])) <= 2
    before = _dims_and_marts(layout)
    assert build_warehouse(layout, full_refresh=True, options=daily_tail).passed
    assert _dims_and_marts(layout) == before
    assert _query(layout, BUILT) == _query(layout, REFERENCE)


def test_a_state_that_does_not_match_is_rebuilt(layout: Layout, built, built_days: list[date]):
    last = DateWindow(built_days[-1], built_days[-1])
    assert build_warehouse(layout, last).passed
    expected = _dims_and_marts(layout)
    states = WarehousePaths(layout).accumulators
    for name, recorded in (
        ("acc_tracks", {}),  # a commit that records no state (another writer): start over
        ("acc_playlist_tracks", {**_recorded(layout, "acc_playlist_tracks"), accumulate.SIGNATURE: "older"}),
    ):
        schema = states.load(name).schema().as_arrow()  # type: ignore[union-attr]
        files = states.files(name)[WHOLE]
        states.replace_files(name, files, schema, partitioned=False, properties=recorded)
    leftover = local_path(states.data_path(states.load("acc_artist_credits")))  # type: ignore[arg-type]
    assert leftover is not None
    leftover.write_bytes(b"junk")  # a crashed writer's file, from before any commit in flight
    two_hours_ago = time.time() - 7200
    os.utime(leftover, (two_hours_ago, two_hours_ago))  # swept once no writer or reader can need it
    states.table_for("acc_gone", pa.schema([("x", pa.int64())]), partitioned=False)  # no such accumulator
    result = build_warehouse(layout, last, options=WarehouseOptions(reader_grace_seconds=0))
    assert result.passed
    assert {a.name for a in result.accumulators if a.rebuilt} == {"acc_tracks", "acc_playlist_tracks"}
    assert _dims_and_marts(layout) == expected
    assert not leftover.exists()
    assert "acc_gone" not in states.table_names()
    assert _query(layout, BUILT) == _query(layout, REFERENCE)


def test_accumulators_are_checked(tmp_path: Path):
    sql_root = tmp_path / "sql"
    shutil.copytree(SQL_ROOT, sql_root)
    assert {a.name for a in discover_accumulators(sql_root)} == {
        "acc_tracks", "acc_artist_credits", "acc_playlists", "acc_playlist_tracks",
    }  # fmt: skip
    by_name = {m.name: m for m in discover_models(sql_root)}
    assert by_name["dim_playlists"].accumulators == ("acc_playlist_tracks", "acc_playlists")
    assert "fct_playlist_streams" in by_name["dim_playlists"].depends_on  # ordered after what it folds
    path = sql_root / "accumulators" / "acc_playlists.sql"
    original = path.read_text()
    for broken, message in (
        (original.replace("FROM fct_playlist_streams", "FROM dim_tracks"), "not partitioned by date"),
        (original.replace("WHERE date BETWEEN $start AND $end", ""), "$start and $end"),
        (original.rsplit(";", 1)[0], "two statements"),
        (original.replace("FROM parts", "FROM fct_playlist_streams"), "reads only `parts`"),
        (original.replace("-- fold: merge", "-- fold: sometimes"), "fold must be"),
    ):
        path.write_text(broken)
        with pytest.raises(ModelError, match=re.escape(message)) as caught:
            discover_models(sql_root)
        assert "acc_playlists.sql" in str(caught.value)
    path.write_text(original)


def test_a_day_build_leaves_old_days_unopened(layout: Layout, built, built_days: list[date]):
    """Old days' files of every table are made unreadable, size and time kept (so the state still
    trusts them): the day build opens none of them, the dimensions included."""
    old = built_days[0]
    for path in (layout.data_dir / "lake").glob(f"*/licensor=globex/date={old}/*.parquet"):
        stat = path.stat()
        path.write_bytes(b"x" * stat.st_size)
        os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    day = built_days[-1]
    result = build_warehouse(layout, DateWindow(day, day))
    assert result.passed, result.failed_checks
    assert {b.model: b.partitions_written for b in result.models}["fct_daily_streams"] == 2


def _build_in_one_pass(
    layout: Layout, options: WarehouseOptions, *, changed: tuple[str, date] | None = None
) -> None:
    """Every day of every licensor landed (the `changed` one as re-published), then one full build."""
    for day in DAYS:
        for licensor in LICENSORS:
            _write_day(layout, licensor, day, variant=3 if (licensor, day) == changed else 0)
    assert build_warehouse(layout, options=options).passed


def _grow(layout: Layout, days: list[date], options: WarehouseOptions) -> None:
    """Land and build `days` one at a time, the way the daily schedule does."""
    for day in days:
        for licensor in LICENSORS:
            _write_day(layout, licensor, day)
        assert build_warehouse(layout, DateWindow(day, day), options=options).passed


def test_retention_then_a_daily_build_folds_one_day_and_keeps_what_was_folded(
    tmp_path: Path, daily_tail: WarehouseOptions
):
    """Retention deletes the two oldest lake days; the next daily build folds its one day into each
    base (nothing started over, no checkpoint refolded) and the dimensions still describe the
    retired days, as the facts (kept by retention) do: equal to a lake that never lost them."""
    daily = Layout(tmp_path / "daily")
    _grow(daily, DAYS[:-1], daily_tail)
    result = apply_retention(daily, keep_days=4, today=DAYS[-1])
    assert result.cutoff == DAYS[2] and {e.day for e in result.expired if e.kind == "lake"} == set(DAYS[:2])
    assert not list(daily.lake_root.glob(f"*/licensor=*/date={DAYS[0]}"))
    kept = Layout(tmp_path / "kept")  # daily builds equal one full build: see above
    _build_in_one_pass(kept, daily_tail)
    for licensor in LICENSORS:
        _write_day(daily, licensor, DAYS[-1])
    built = build_warehouse(daily, DateWindow(DAYS[-1], DAYS[-1]), options=daily_tail)
    assert built.passed, built.failed_checks
    assert {a.name for a in built.accumulators} == {
        "acc_tracks", "acc_artist_credits", "acc_playlists", "acc_playlist_tracks",
    }  # fmt: skip
    assert [(a.rebuilt, a.restarted_from, a.folded) for a in built.accumulators] == [(False, None, 1)] * 4
    assert _query(daily, BUILT) == _query(kept, BUILT)  # the retired days are still described
    first = _query(daily, {"t": "SELECT min(first_seen_date) FROM dim_tracks"})
    assert first["t"] == [(DAYS[0],)]


def test_a_late_republication_refolds_from_the_checkpoint_before_it(
    tmp_path: Path, daily_tail: WarehouseOptions, monkeypatch: pytest.MonkeyPatch
):
    """A day inside the base re-published: the base goes back to the newest checkpoint before it
    and refolds only the days since; the result equals one full build of the final lake."""
    monkeypatch.setattr(accumulate, "CHECKPOINT_DAYS", 2)
    daily = Layout(tmp_path / "daily")
    _grow(daily, DAYS, daily_tail)
    changed = DAYS[4]
    _write_day(daily, "acme", changed, variant=3)
    built = build_warehouse(daily, DateWindow(changed, DAYS[-1]), options=daily_tail)
    assert built.passed, built.failed_checks
    for acc in built.accumulators:
        assert not acc.rebuilt
        assert acc.restarted_from is not None and DAYS[2] <= acc.restarted_from < changed, acc
        assert acc.folded == (DAYS[-2] - acc.restarted_from).days  # the days since it, not the history
    table = WarehousePaths(daily).accumulators.load("acc_tracks")
    assert table is not None
    tags = {n.removeprefix(accumulate.CHECKPOINT): r for n, r in table.metadata.refs.items() if n != "main"}
    assert tags and all(day <= f"{DAYS[-2]}" for day in tags)
    for day, ref in tags.items():  # a checkpoint is the snapshot holding the state through its day
        assert table.snapshot_by_id(ref.snapshot_id).summary[accumulate.THROUGH] == day  # type: ignore[union-attr]

    whole = Layout(tmp_path / "whole")
    _build_in_one_pass(whole, daily_tail, changed=("acme", changed))
    assert _dims_and_marts(daily) == _dims_and_marts(whole)
    assert _query(daily, BUILT) == _query(daily, REFERENCE)
