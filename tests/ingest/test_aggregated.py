"""Aggregated streams: one nested record per track flattened into four consistent tables."""

from __future__ import annotations

import json

import pyarrow.parquet as pq
import pytest

from pipeline.ingest.landing import land_partition
from pipeline.ingest.landing.aggregated import UnknownShapeError
from pipeline.ingest.landing.fieldcheck import MissingFieldError
from pipeline.reports import report_by_name
from pipeline.spotify_ids import base62_to_gid
from tests.kits.fake_lake import lake_tables, partition_rows
from tests.kits.ndjson import dumps

from .conftest import DAY, LICENSOR, LOADED_AT

# 22-character base62 ids, as the wire contract has them (other forms are normalized to these)
T1, T2, T3, T4, T5 = (f"T{n}".ljust(22, "x") for n in range(1, 6))
AGES = ["0-17", "18-22", "23-27", "28-34", "35-44", "45-59", "60-150", "unknown"]


def _gender(ages: list[int]) -> dict:
    return {"total": sum(ages), "age": dict(zip(AGES, ages, strict=True))}


def _record(track: str, us_female: list[int], us_male: list[int], se_female: list[int]) -> dict:
    us = {"female": _gender(us_female), "male": _gender(us_male)}
    se = {"female": _gender(se_female)}
    us_total = sum(us_female) + sum(us_male)
    se_total = sum(se_female)
    return {
        "date": str(DAY),
        "licensor": LICENSOR,
        "trackv2": {"name": f"Song {track}", "uri": f"spotify:track:{track}", "href": "h", "isrc": "USX1"},
        "album": {"name": "Album", "uri": "spotify:album:A1", "href": "h", "upc": "0001"},
        "artists": [{"name": "Ann", "uri": "spotify:artist:1"}, {"name": "Bo", "uri": "spotify:artist:2"}],
        "listeners": 42,
        "streams": {
            "total": us_total + se_total,
            "country": {"US": {"total": us_total, "gender": us}, "SE": {"total": se_total, "gender": se}},
        },
        "skips": {"total": 7, "country": {"US": {"total": 5}, "SE": {"total": 2}}},
        "saves": {"total": 9, "country": {"US": {"total": 9, "product": {"free": 4, "premium": 5}}}},
    }


def _land(layout, files, **kwargs):
    report = report_by_name("aggregatedstreams")
    return land_partition(layout, report, LICENSOR, DAY, files, loaded_at=LOADED_AT, **kwargs)


def _read(result, table):
    path = next(t.path for t in result.tables if t.table == table)
    return pq.read_table(path).to_pylist()


def test_flattening_with_known_numbers(layout, archive):
    first = _record(T2, [1, 2, 3, 4, 5, 6, 7, 8], [10, 0, 0, 0, 0, 0, 0, 1], [2, 2, 2, 2, 2, 2, 2, 2])
    second = {**_record(T1, [0] * 8, [3] * 8, [1] * 8), "popularity": 55}
    result = _land(layout, [archive("aggregated_streams", "day.gz", [first, second])])
    assert [t.table for t in result.tables] == [
        "aggregated_summary",
        "aggregated_count",
        "aggregated_skips",
        "aggregated_saves",
    ]
    summary = _read(result, "aggregated_summary")
    assert [r["track_uri"] for r in summary] == [f"spotify:track:{T1}", f"spotify:track:{T2}"]
    t2 = summary[1]
    assert t2["track_id"] == T2 and t2["track_name"] == f"Song {T2}" and t2["isrc"] == "USX1"
    assert (t2["album_name"], t2["album_uri"], t2["upc"]) == ("Album", "spotify:album:A1", "0001")
    assert t2["artist_names"] == ["Ann", "Bo"] and t2["artist_uris"] == [
        "spotify:artist:1",
        "spotify:artist:2",
    ]
    assert (t2["listeners"], t2["streams"], t2["skips"], t2["saves"]) == (42, 36 + 11 + 16, 7, 9)
    assert (t2["female_streams"], t2["male_streams"]) == (36 + 16, 11)
    assert (t2["non_binary_streams"], t2["unknown_gender_streams"]) == (0, 0)
    assert t2["_extra"] is None and json.loads(summary[0]["_extra"]) == {"popularity": 55}
    assert result.unknown_fields == {"popularity": 1}

    counts = _read(result, "aggregated_count")
    assert len(counts) == 2 * (3 * len(AGES))  # two tracks x (US female, US male, SE female) x ages
    for row in summary:
        own = [c for c in counts if c["track_uri"] == row["track_uri"]]
        assert sum(c["streams"] for c in own) == row["streams"]
        assert sum(c["streams"] for c in own if c["gender"] == "female") == row["female_streams"]
    keys = [(c["country"], c["track_uri"], c["gender"], c["age_group"]) for c in counts]
    assert keys == sorted(keys)
    assert {"country", "gender", "age_group", "streams"} <= set(counts[0])
    us_rows = [(c["gender"], c["streams"]) for c in counts if c["track_id"] == T2 and c["country"] == "US"]
    assert us_rows[1] == ("female", 2) and us_rows[8 + 7] == ("male", 1)  # sorted: female ages, then male

    skips = _read(result, "aggregated_skips")
    assert [(s["country"], s["track_id"], s["skips"]) for s in skips] == [
        ("SE", T1, 2),
        ("SE", T2, 2),
        ("US", T1, 5),
        ("US", T2, 5),
    ]
    saves = _read(result, "aggregated_saves")
    assert [(s["track_id"], s["product"], s["saves"]) for s in saves] == [
        (T1, "free", 4),
        (T1, "premium", 5),
        (T2, "free", 4),
        (T2, "premium", 5),
    ]
    assert sum(s["saves"] for s in saves if s["track_id"] == T2) == t2["saves"]
    assert all(r["_source_file"].endswith("/day.gz") and r["_loaded_at"] == LOADED_AT for r in saves)


def test_malformed_records_rejected_whole(layout, archive):
    good = _record(T1, [1] * 8, [1] * 8, [1] * 8)
    bad_leaf = _record(T2, [1] * 8, [1] * 8, [1] * 8)
    bad_leaf["streams"]["country"]["US"]["gender"]["male"]["age"]["18-22"] = "lots"
    no_uri = _record(T3, [1] * 8, [1] * 8, [1] * 8)
    del no_uri["trackv2"]["uri"]
    not_object = _record(T4, [1] * 8, [1] * 8, [1] * 8)
    not_object["saves"]["country"]["US"] = 12
    castable = _record(T5, [1] * 8, [1] * 8, [1] * 8)
    castable["listeners"] = "42"
    lines = [dumps(good), dumps(bad_leaf), dumps(no_uri), "{oops", dumps(not_object), dumps(castable)]
    path = archive("aggregated_streams", "day.gz", lines, raw=True)
    result = _land(layout, [path], max_reject_share=1.0)
    rejects = [json.loads(x) for x in result.rejects_path.read_text().splitlines()]
    assert [(r["line"], r["reason"]) for r in rejects] == [
        (2, "field 'streams.country.US.gender.male.age.18-22': cannot cast \"lots\" to int64"),
        (3, "missing required field 'trackv2.uri' (or a track 'trackv2.href')"),
        (4, "malformed JSON: Expecting property name enclosed in double quotes at column 2"),
        (5, "field 'saves.country.US': expected an object, got 12"),
    ]
    assert result.lines_total == 6 and result.rejected == 4
    summary = _read(result, "aggregated_summary")
    assert [r["track_id"] for r in summary] == [T1, T5] and summary[1]["listeners"] == 42
    assert {c["track_id"] for c in _read(result, "aggregated_count")} == {T1, T5}


def test_empty_day_commits_four_tables_without_rows(layout, archive):
    result = _land(layout, [archive("aggregated_streams", "day.gz", [])])
    assert [t.rows for t in result.tables] == [0, 0, 0, 0]
    assert all(t.path is None for t in result.tables)  # Iceberg has no empty partition: no file
    for table in result.tables:  # but each table exists, with its declared columns
        assert lake_tables(layout).load(table.table) is not None
        assert partition_rows(layout, table.table, LICENSOR, DAY) is None


def _totals_record(track: str) -> dict:
    """The totals shape: no licensor, listeners, artists or uris; country totals; saves by plan on top."""
    return {
        "date": str(DAY),
        "trackv2": {"name": "Song", "href": f"https://api.spotify.com/v1/tracks/{track}", "isrc": "USX1"},
        "album": {"name": "Album", "href": "https://api.spotify.com/v1/albums/A1", "upc": "0001"},
        "streams": {"total": 12, "country": {"US": {"total": 9}, "SE": {"total": 3}}},
        "skips": {"total": 2, "country": {"US": {"total": 2}}},
        "saves": {
            "total": 5,
            "country": {"US": {"total": 4}, "SE": {"total": 1}},
            "product": {"free": 2, "premium": 3},
        },
    }


def test_totals_shape_lands_country_totals_without_inventing_demographics(layout, archive):
    result = _land(layout, [archive("aggregated_streams", "day.gz", [_totals_record(T1)])])
    assert result.rejected == 0
    (summary,) = _read(result, "aggregated_summary")
    assert (summary["track_uri"], summary["track_id"]) == (f"spotify:track:{T1}", T1)
    assert (summary["album_uri"], summary["listeners"], summary["artist_names"]) == (
        "spotify:album:A1",
        None,
        None,
    )
    assert (summary["streams"], summary["skips"], summary["saves"]) == (12, 2, 5)
    assert summary["female_streams"] is None and summary["unknown_gender_streams"] is None
    counts = _read(result, "aggregated_count")
    assert [(c["country"], c["gender"], c["age_group"], c["streams"]) for c in counts] == [
        ("SE", None, None, 3),
        ("US", None, None, 9),
    ]
    saves = _read(result, "aggregated_saves")
    assert [(s["country"], s["product"], s["saves"]) for s in saves] == [
        ("SE", None, 1),
        ("US", None, 4),
        (None, "free", 2),
        (None, "premium", 3),
    ]
    assert [(s["country"], s["skips"]) for s in _read(result, "aggregated_skips")] == [("US", 2)]


def test_track_ids_come_normalized_from_uri_or_href(layout, archive):
    gid_track = "4uLU6hMCjMI75M1A2tKUQC"
    by_gid = _totals_record(T1)
    by_gid["trackv2"]["href"] = f"https://api.spotify.com/v1/tracks/{base62_to_gid(gid_track)}?market=US"
    junk = _totals_record(T2)
    junk["trackv2"]["href"] = "https://api.spotify.com/v1/tracks/nope"
    path = archive("aggregated_streams", "day.gz", [by_gid, junk])
    result = _land(layout, [path], max_reject_share=1.0)
    assert [r["track_id"] for r in _read(result, "aggregated_summary")] == [gid_track]
    assert result.invalid_track_ids == 1
    (reject,) = [json.loads(x) for x in result.rejects_path.read_text().splitlines()]
    assert reject["reason"].startswith(
        "field 'trackv2.href': \"https://api.spotify.com/v1/tracks/nope\" is not"
    )


@pytest.mark.parametrize(
    ("change", "why"),
    [
        (lambda r: r.pop("trackv2"), "no 'trackv2'"),
        (lambda r: r["streams"]["country"]["US"].update(age={"18-22": 9}), "unknown key(s) 'age' under"),
        (lambda r: r["saves"].update(plans={"free": 1}), "unknown key(s) 'plans' under 'saves'"),
    ],
)
def test_a_record_of_unknown_shape_fails_the_load_with_a_skeleton(layout, archive, change, why):
    record = _totals_record(T1)
    record["customer"] = "someone@example.com"
    change(record)
    path = archive("aggregated_streams", "day.gz", [_totals_record(T2), record])
    with pytest.raises(UnknownShapeError) as caught:
        _land(layout, [path])
    message = str(caught.value)
    assert why in message and "line 2 of" in message and 'record skeleton: {"date":"str"' in message
    assert "someone@example.com" not in message and "Song" not in message  # a skeleton, no values
    assert partition_rows(layout, "aggregated_count", LICENSOR, DAY) is None


def _coded_record(track: str) -> dict:
    """A public production client's shape: country codes under `streams`, upper-case genders, a
    `"total"` at each level, no level names; a gender given as a number is a total without ages."""
    return {
        "date": str(DAY),
        "trackv2": {"name": "Song", "uri": f"spotify:track:{track}", "isrc": "USX1"},
        "listeners": 4,
        "streams": {
            "total": 10,
            "SE": {
                "total": 7,
                "FEMALE": {"total": 3, "23-27": 2, "60-150": 1},
                "NEUTRAL": {"total": 4, "0-17": 4},
            },
            "US": {"total": 3, "MALE": 3},
        },
        "skips": {"total": 2, "SE": {"total": 2}},
        "saves": {"total": 3, "SE": {"total": 3, "free": 1, "premium": 2}},
    }


def test_the_coded_shape_lands_with_genders_and_ages_normalized(layout, archive):
    result = _land(layout, [archive("aggregated_streams", "day.gz", [_coded_record(T1)])])
    assert result.rejected == 0
    (summary,) = _read(result, "aggregated_summary")
    assert (summary["listeners"], summary["streams"], summary["skips"], summary["saves"]) == (4, 10, 2, 3)
    assert (summary["female_streams"], summary["male_streams"], summary["non_binary_streams"]) == (3, 3, 4)
    counts = _read(result, "aggregated_count")
    assert [(c["country"], c["gender"], c["age_group"], c["streams"]) for c in counts] == [
        ("SE", "female", "23-27", 2),
        ("SE", "female", "60-150", 1),
        ("SE", "non_binary", "0-17", 4),
        ("US", "male", None, 3),
    ]
    assert [(s["country"], s["skips"]) for s in _read(result, "aggregated_skips")] == [("SE", 2)]
    saves = _read(result, "aggregated_saves")
    assert [(s["country"], s["product"], s["saves"]) for s in saves] == [
        ("SE", "free", 1),
        ("SE", "premium", 2),
    ]


@pytest.mark.parametrize(
    ("change", "why"),
    [
        (lambda r: r["streams"].update(Sweden={"total": 1}), "unknown key 'Sweden' under 'streams'"),
        (lambda r: r["streams"]["SE"].update(OTHER=1), "unknown key 'OTHER' under 'streams.SE'"),
        (
            lambda r: r["streams"]["SE"]["FEMALE"].update(teens=1),
            "unknown key 'teens' under 'streams.SE.FEMALE'",
        ),
    ],
)
def test_a_coded_record_with_keys_of_no_level_fails_with_a_skeleton(layout, archive, change, why):
    record = _coded_record(T1)
    change(record)
    with pytest.raises(UnknownShapeError) as caught:
        _land(layout, [archive("aggregated_streams", "day.gz", [record])])
    assert why in str(caught.value) and "record skeleton" in str(caught.value)


def test_a_file_whose_records_all_lack_streams_fails_the_load(layout, archive):
    records = [_totals_record(T1), _totals_record(T2)]
    for record in records:
        record["stream_counts"] = record.pop("streams")
    with pytest.raises(MissingFieldError) as caught:
        _land(layout, [archive("aggregated_streams", "day.gz", records)])
    message = str(caught.value)
    assert "'streams' is missing from all 2 lines of day.gz" in message and "stream_counts" in message


def test_undeclared_fields_are_kept_byte_exact(layout, archive):
    line = dumps(_totals_record(T1))[:-1] + ',"big":12345678901234567890,"at":"2026-06-10T10:00:00Z"}'
    result = _land(layout, [archive("aggregated_streams", "day.gz", [line], raw=True)])
    (summary,) = _read(result, "aggregated_summary")
    assert summary["_extra"] == '{"big":12345678901234567890,"at":"2026-06-10T10:00:00Z"}'
