"""What the emulator serves: deterministic, realistic in shape, and internally consistent."""

from __future__ import annotations

from collections import Counter, defaultdict
from datetime import date

import pytest

from pipeline.emulator import EmulatorConfig, start_emulator
from tests.kits.emulator_http import DAY, TODAY, Bulk

AGE_BUCKETS = (
    ("0-17", 0, 17),
    ("18-22", 18, 22),
    ("23-27", 23, 27),
    ("28-34", 28, 34),
    ("35-44", 35, 44),
    ("45-59", 45, 59),
    ("60-150", 60, 150),
)


def age_group(birth_year, day: date) -> str:
    if birth_year is None:
        return "unknown"
    age = day.year - birth_year
    return next((name for name, low, high in AGE_BUCKETS if low <= age <= high), "unknown")


@pytest.fixture(scope="module")
def big(tmp_path_factory):
    """5000 stream rows per licensor-day, for the shape and reconciliation checks."""
    config = EmulatorConfig(today=TODAY, rows_per_day=5000, cache_dir=tmp_path_factory.mktemp("big"))
    with start_emulator(config) as running:
        client = Bulk(running)
        yield running, client
        client.close()


@pytest.fixture(scope="module")
def day_data(big):
    _, client = big
    reports = ("streams", "sub_30_sec_streams", "users", "tracks", "aggregatedstreams")
    return {r: client.records("acme", r, DAY) for r in reports}


def test_same_seed_gives_byte_identical_files_and_licensors_differ(tmp_path, emu, bulk):
    config = EmulatorConfig(today=TODAY, cache_dir=tmp_path / "other")
    with start_emulator(config) as twin:
        other = Bulk(twin)
        try:
            for report in ("streams", "users", "tracks", "aggregatedstreams"):
                assert other.files("acme", report, DAY) == bulk.files("acme", report, DAY), report
        finally:
            other.close()
    acme = {t["track_id"] for t in bulk.records("acme", "tracks", DAY)}
    globex = {t["track_id"] for t in bulk.records("globex", "tracks", DAY)}
    assert acme and globex and not acme & globex  # different catalogs
    assert bulk.files("acme", "users", DAY) != bulk.files("acme", "users", date(2026, 11, 19))


def test_another_seed_changes_the_data(tmp_path, bulk):
    config = EmulatorConfig(seed=7, today=TODAY, cache_dir=tmp_path / "seed7")
    with start_emulator(config) as other_seed:
        other = Bulk(other_seed)
        try:
            assert other.files("acme", "tracks", DAY) != bulk.files("acme", "tracks", DAY)
        finally:
            other.close()


def test_realistic_shape(big, day_data):
    streams, sub30 = day_data["streams"], day_data["sub_30_sec_streams"]
    total = len(streams) + len(sub30)
    assert total == 5000
    assert 0.10 <= len(sub30) / total <= 0.25
    countries = Counter(r["country"] for r in streams + sub30)
    assert len(countries) >= 40
    assert countries.most_common(1)[0][0] == "US"
    assert {"BR", "MX", "GB", "DE"} <= set(countries)
    plays = Counter(r["track_id"] for r in streams + sub30).most_common()
    top_share = sum(n for _, n in plays[: len(plays) // 10]) / total
    assert top_share > 0.4  # Zipf-like: the top 10 % of tracks take a large share
    assert {r["source"] for r in streams} >= {"album", "collection", "others_playlist", "search"}
    assert {r["access"] for r in streams} == {"free", "premium"}
    assert len({r["device_type"] for r in streams}) >= 5


def test_streams_reconcile_with_aggregated_streams(day_data):
    users = {u["user_id"]: u for u in day_data["users"]}
    expected_cells: Counter = Counter()
    listeners = defaultdict(set)
    for row in day_data["streams"]:
        user = users[row["user_id"]]
        assert user["country"] == row["country"]
        cell = (row["track_id"], row["country"], user["gender"], age_group(user["birth_year"], DAY))
        expected_cells[cell] += 1
        listeners[row["track_id"]].add(row["user_id"])
    expected_skips = Counter((r["track_id"], r["country"]) for r in day_data["sub_30_sec_streams"])
    cells: Counter = Counter()
    skips: Counter = Counter()
    for record in day_data["aggregatedstreams"]:
        track = record["trackv2"]["uri"].removeprefix("spotify:track:")
        streams = record["streams"]
        assert streams["total"] == sum(c["total"] for c in streams["country"].values())
        for country, c in streams["country"].items():
            assert c["total"] == sum(g["total"] for g in c["gender"].values())
            for gender, g in c["gender"].items():
                assert g["total"] == sum(g["age"].values())
                for age, n in g["age"].items():
                    assert n > 0  # zero cells are omitted
                    cells[(track, country, gender, age)] += n
        assert record["listeners"] == len(listeners.get(track, ()))
        assert record["skips"]["total"] == sum(c["total"] for c in record["skips"]["country"].values())
        skips.update({(track, c): v["total"] for c, v in record["skips"]["country"].items()})
        saves = record["saves"]
        assert saves["total"] == sum(c["total"] for c in saves["country"].values())
        for c in saves["country"].values():
            assert c["total"] == sum(c["product"].values()) and set(c["product"]) <= {"free", "premium"}
    assert cells == expected_cells
    assert skips == expected_skips


def test_users_and_tracks_cover_the_streams(day_data):
    rows = day_data["streams"] + day_data["sub_30_sec_streams"]
    user_ids = [u["user_id"] for u in day_data["users"]]
    track_ids = [t["track_id"] for t in day_data["tracks"]]
    assert len(user_ids) == len(set(user_ids)) and len(track_ids) == len(set(track_ids))
    assert set(user_ids) == {r["user_id"] for r in rows}
    assert set(track_ids) == {r["track_id"] for r in rows}
    agg = [a["trackv2"]["uri"] for a in day_data["aggregatedstreams"]]
    assert sorted(agg) == sorted(f"spotify:track:{t}" for t in track_ids)
    isrc = {t["track_id"]: t["isrc"] for t in day_data["tracks"]}
    assert all(r["isrc"] == isrc[r["track_id"]] for r in rows)


def test_expected_matches_what_the_files_contain(big, day_data):
    emu, _ = big
    expected = emu.expected("acme", DAY)
    agg = day_data["aggregatedstreams"]
    counted = {
        "streams": len(day_data["streams"]),
        "sub30_streams": len(day_data["sub_30_sec_streams"]),
        "users": len(day_data["users"]),
        "tracks": len(day_data["tracks"]),
        "aggregated_summary": len(agg),
        "aggregated_count": sum(
            len(g["age"]) for a in agg for c in a["streams"]["country"].values() for g in c["gender"].values()
        ),
        "aggregated_skips": sum(len(a["skips"]["country"]) for a in agg),
        "aggregated_saves": sum(len(c["product"]) for a in agg for c in a["saves"]["country"].values()),
    }
    assert expected == counted
    assert emu.cache.generated == 1  # one generation served all five reports and expected()
