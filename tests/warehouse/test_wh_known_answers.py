"""Known answers: each mart against numbers computed in Python from the raw lake Parquet files."""

from __future__ import annotations

import csv
from collections import Counter, defaultdict
from datetime import date, timedelta
from pathlib import Path

import pytest

from pipeline.layout import Layout
from pipeline.warehouse.build import BuildResult
from pipeline.warehouse.catalog import open_catalog
from pipeline.warehouse.models import SQL_ROOT
from tests.kits.fake_lake import read_lake


@pytest.fixture(scope="module")
def layout(template: tuple[Path, BuildResult]) -> Layout:
    """The session's built template, only read here."""
    return Layout(template[0])


@pytest.fixture(scope="module")
def built(template: tuple[Path, BuildResult]) -> BuildResult:
    return template[1]


@pytest.fixture(scope="module")
def lake_days(built: BuildResult) -> list[date]:
    return list(built.window)


PLAYLIST_SOURCES = {"own_playlist", "others_playlist", "chart"}
LIBRARY_SOURCES = {"collection", "album", "artist"}


def _mart(layout: Layout, sql: str) -> list[tuple]:
    con = open_catalog(layout.warehouse_path)
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()


def _as_dict(rows: list[tuple], key_len: int) -> dict[tuple, tuple]:
    return {tuple(r[:key_len]): tuple(r[key_len:]) for r in rows}


def _approx_equal(actual: dict, expected: dict) -> None:
    assert actual.keys() == expected.keys()
    for key, values in expected.items():
        assert actual[key] == pytest.approx(values), key


def test_daily_streams(layout: Layout, built: BuildResult):
    groups: dict[tuple, list[dict]] = defaultdict(list)
    for s in read_lake(layout, "streams"):
        key = (
            s["licensor"],
            s["date"],
            s["track_id"],
            s["country"],
            s["source"],
            s["access"],
            s["device_type"],
        )
        groups[key].append(s)
    expected = {
        k: (
            len(v),
            len({s["user_id"] for s in v}),
            sum(s["completion"] for s in v),
            sum(s["completion"] for s in v) / len(v),
            sum(s["discovery"] for s in v),
            sum(s["stream_length"] for s in v) / len(v),
        )
        for k, v in groups.items()
    }
    rows = _mart(
        layout,
        "SELECT licensor, date, track_id, country, source, access, device_type, streams, listeners, "
        "completed_streams, completion_rate, discovery_streams, avg_stream_length_ms FROM fct_daily_streams",
    )
    _approx_equal(_as_dict(rows, 7), expected)
    assert sum(r[7] for r in rows) == len(read_lake(layout, "streams")) == 2 * 5 * 60


def _per_track(rows: list[dict]) -> Counter:
    return Counter((r["licensor"], r["date"], r["track_id"]) for r in rows)


def test_sub30_share_and_track_performance(layout: Layout, built: BuildResult):
    streams, sub30 = read_lake(layout, "streams"), read_lake(layout, "sub30_streams")
    full, short = _per_track(streams), _per_track(sub30)
    keys = set(full) | set(short)
    expected_share = {
        k: (full[k], short[k], full[k] + short[k], short[k] / (full[k] + short[k])) for k in keys
    }
    rows = _mart(
        layout,
        "SELECT licensor, date, track_id, streams, sub30_streams, all_streams, sub30_share "
        "FROM fct_track_sub30_share",
    )
    _approx_equal(_as_dict(rows, 3), expected_share)

    listeners = defaultdict(set)
    for s in streams:
        listeners[(s["licensor"], s["date"], s["track_id"])].add(s["user_id"])
    summary = {(r["licensor"], r["date"], r["track_id"]): r for r in read_lake(layout, "aggregated_summary")}
    names = {(r["licensor"], r["date"], r["track_id"]): r["track_name"] for r in read_lake(layout, "tracks")}

    def window_sum(key: tuple, days: int) -> int:
        licensor, day, track = key
        return sum(full[(licensor, day - timedelta(days=i), track)] for i in range(days))

    expected = {}
    for key in keys:
        n = full[key]
        skips = summary[key]["skips"] if key in summary else 0
        saves = summary[key]["saves"] if key in summary else 0
        prev = full[(key[0], key[1] - timedelta(days=1), key[2])]
        expected[key] = (
            names[key], n, len(listeners[key]), short[key], skips, saves,
            skips / n if n else None, saves / n if n else None,
            window_sum(key, 7), window_sum(key, 28), prev, n - prev, (n - prev) / prev if prev else None,
        )  # fmt: skip
    rows = _mart(
        layout,
        "SELECT licensor, date, track_id, track_name, streams, listeners, sub30_streams, skips, saves, "
        "skip_rate, save_rate, streams_7d, streams_28d, streams_prev_day, streams_dod_change, "
        "streams_dod_change_pct "
        "FROM fct_track_performance",
    )
    _approx_equal(_as_dict(rows, 3), expected)


def test_demographics_match_streams_joined_to_users(layout: Layout, built: BuildResult):
    """Computed from streams x users (not from aggregated_count), which must agree with the mart."""
    users = {(u["licensor"], u["date"], u["user_id"]): u for u in read_lake(layout, "users")}
    counts: Counter = Counter()
    for s in read_lake(layout, "streams"):
        u = users[(s["licensor"], s["date"], s["user_id"])]
        by = u["birth_year"]
        age = "unknown" if by is None else _age_group(s["date"].year - by)
        counts[(s["licensor"], s["date"], s["track_id"], age, u["gender"])] += 1
    totals: Counter = Counter()
    for (lic, day, track, _a, _g), n in counts.items():
        totals[(lic, day, track)] += n
    expected = {k: (n, n / totals[k[:3]]) for k, n in counts.items()}
    rows = _mart(
        layout,
        "SELECT licensor, date, track_id, age_group, gender, streams, share_of_track_streams "
        "FROM fct_track_demographics",
    )
    _approx_equal(_as_dict(rows, 5), expected)


def _age_group(age: int) -> str:
    bounds = ((17, "0-17"), (22, "18-22"), (27, "23-27"), (34, "28-34"), (44, "35-44"), (59, "45-59"))
    return next((label for limit, label in bounds if age <= limit), "60-150")


def test_skip_save_rates_and_saves_by_plan(layout: Layout, built: BuildResult):
    streams = Counter(
        (s["licensor"], s["date"], s["track_id"], s["country"]) for s in read_lake(layout, "streams")
    )
    skips = {
        (r["licensor"], r["date"], r["track_id"], r["country"]): r["skips"]
        for r in read_lake(layout, "aggregated_skips")
    }
    saves: Counter = Counter()
    plans: Counter = Counter()
    for r in read_lake(layout, "aggregated_saves"):
        saves[(r["licensor"], r["date"], r["track_id"], r["country"])] += r["saves"]
        plans[(r["licensor"], r["date"], r["track_id"], r["product"])] += r["saves"]
    keys = set(streams) | set(skips) | set(saves)
    expected = {
        k: (streams[k], skips.get(k, 0), saves[k], skips.get(k, 0) / streams[k], saves[k] / streams[k])
        for k in keys
    }
    rows = _mart(
        layout,
        "SELECT licensor, date, track_id, country, streams, skips, saves, skip_rate, save_rate "
        "FROM fct_skip_save_rates",
    )
    _approx_equal(_as_dict(rows, 4), expected)

    track_saves: Counter = Counter()
    for (lic, day, track, _p), n in plans.items():
        track_saves[(lic, day, track)] += n
    expected_plans = {
        k: (n, n / track_saves[k[:3]] if track_saves[k[:3]] else None) for k, n in plans.items()
    }
    rows = _mart(
        layout, "SELECT licensor, date, track_id, product, saves, share_of_track_saves FROM fct_saves_by_plan"
    )
    _approx_equal(_as_dict(rows, 4), expected_plans)


def _source_group(source: str) -> str:
    if source in PLAYLIST_SOURCES:
        return "playlists"
    if source in LIBRARY_SOURCES:
        return "library"
    return source if source in ("search", "radio") else "other"


def test_source_mix_and_playlist_attribution(layout: Layout, built: BuildResult):
    streams = read_lake(layout, "streams")
    mix: dict[tuple, list[dict]] = defaultdict(list)
    playlists: dict[tuple, list[dict]] = defaultdict(list)
    for s in streams:
        mix[(s["licensor"], s["date"], s["track_id"], _source_group(s["source"]))].append(s)
        if s["source_uri"].startswith("spotify:playlist:"):
            playlists[(s["licensor"], s["date"], s["source_uri"].split(":")[2], s["track_id"])].append(s)
    per_track = _per_track(streams)
    expected_mix = {
        k: (len(v), len({s["user_id"] for s in v}), len(v) / per_track[k[:3]]) for k, v in mix.items()
    }
    rows = _mart(
        layout,
        "SELECT licensor, date, track_id, source_group, streams, listeners, share_of_track_streams "
        "FROM fct_source_mix",
    )
    _approx_equal(_as_dict(rows, 4), expected_mix)
    assert {r[3] for r in rows} == {"playlists", "library", "search", "radio", "other"}

    expected_pl = {
        k: (
            len(v),
            len({s["user_id"] for s in v}),
            sum(s["source"] == "own_playlist" for s in v),
            sum(s["completion"] for s in v),
        )
        for k, v in playlists.items()
    }
    rows = _mart(
        layout,
        "SELECT licensor, date, playlist_id, track_id, streams, listeners, own_playlist_streams, "
        "completed_streams FROM fct_playlist_streams",
    )
    _approx_equal(_as_dict(rows, 4), expected_pl)
    assert len(expected_pl) > 10


def test_dimensions(layout: Layout, built: BuildResult, lake_days: list[date]):
    tracks = read_lake(layout, "tracks")
    seen: dict[tuple, list[date]] = defaultdict(list)
    for t in tracks:
        seen[(t["licensor"], t["track_id"])].append(t["date"])
    rows = _mart(
        layout, "SELECT licensor, track_id, first_seen_date, last_seen_date, days_streamed FROM dim_tracks"
    )
    assert _as_dict(rows, 2) == {k: (min(v), max(v), len(v)) for k, v in seen.items()}

    with open(SQL_ROOT / "seeds" / "countries.csv", encoding="utf-8") as fh:
        seeds = {r["country_code"]: r for r in csv.DictReader(fh)}
    countries = _as_dict(
        _mart(layout, "SELECT country_code, country_name, region, sub_region FROM dim_country"), 1
    )
    assert len(countries) == len(seeds) >= 249
    assert countries[("US",)] == ("United States", "Americas", "Northern America")
    assert countries[("SE",)] == ("Sweden", "Europe", "Northern Europe")
    streamed = {s["country"] for s in read_lake(layout, "streams")}
    assert {(c,) for c in streamed} <= countries.keys()

    day = _mart(
        layout,
        "SELECT day_name, is_weekend, iso_week, month_name FROM dim_date WHERE date = DATE '2026-06-06'",
    )
    assert day == [("Saturday", True, 23, "June")]
    assert _mart(layout, "SELECT count(*), min(date), max(date) FROM dim_date") == [
        (9497, date(2015, 1, 1), date(2040, 12, 31))
    ]


def test_staging_views_match_the_lake(layout: Layout, built: BuildResult):
    for view, table in (
        ("stg_streams", "streams"),
        ("stg_users", "users"),
        ("stg_aggregated_count", "aggregated_count"),
    ):
        assert _mart(layout, f"SELECT count(*) FROM {view}") == [(len(read_lake(layout, table)),)]
    assert _mart(layout, "SELECT count(*) FROM lake.sub30_streams") == [
        (len(read_lake(layout, "sub30_streams")),)
    ]
