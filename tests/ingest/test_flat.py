"""Flat reports: typed output, sort order, file shape, lineage and idempotent re-runs."""

from __future__ import annotations

from datetime import UTC, datetime

import duckdb
import pyarrow.parquet as pq
import pytest

from pipeline.ingest.landing import land_partition, table_column_schema
from pipeline.reports import STREAMS, TRACKS, USERS, report_by_name
from tests.kits.fake_lake import current_files, lake_tables, partition_rows
from tests.kits.ndjson import stream_records

from .conftest import DAY, LICENSOR, LOADED_AT

TRACK = {
    "track_id": "4uLU6hMCjMI75M1A2tKUQC",
    "track_uri": "spotify:track:4uLU6hMCjMI75M1A2tKUQC",
    "isrc": "GBARL9300135",
    "track_name": 'Déjà vu — "quoted" ✓',
    "artist_names": ["Rick Astley", "Ünïcödé"],
    "album_name": "Whenever You Need Somebody",
    "album_uri": "spotify:album:6XzVwqHQdt8cTqV2N7lFkN",
    "upc": "0035627110221",
    "label": "RCA",
    "duration_ms": 213573,
    "release_date": "1987-11",
    "explicit": False,
}


def _land(layout, report, files, **kwargs):
    return land_partition(layout, report_by_name(report), LICENSOR, DAY, files, loaded_at=LOADED_AT, **kwargs)


def test_tracks_types_round_trip(layout, archive):
    second = {
        **TRACK,
        "track_id": "0aaa".ljust(22, "a"),
        "artist_names": [],
        "explicit": True,
        "duration_ms": 2**40,
    }
    files = [archive("tracks", "tracks.gz", [TRACK, second])]
    result = _land(layout, "tracks", files)
    rows = pq.read_table(result.tables[0].path).to_pylist()
    assert [r["track_id"] for r in rows] == ["0aaa".ljust(22, "a"), TRACK["track_id"]]  # sorted by track_id
    got = {k: rows[1][k] for k in TRACK}
    assert got == TRACK
    assert rows[0]["artist_names"] == [] and rows[0]["explicit"] is True and rows[0]["duration_ms"] == 2**40


def test_streams_timestamps_and_bools(layout, archive):
    records = [
        {**rec, "timestamp": ts}
        for rec, ts in zip(
            stream_records(4),
            [
                "2026-11-20T01:02:03Z",
                "2026-11-20T01:02:03.5Z",
                "2026-11-20T23:59:59.123456Z",
                "2026-11-20T05:00:00",
            ],
            strict=True,
        )
    ]
    result = _land(layout, "streams", [archive("streams", "US.gz", records)])
    rows = pq.read_table(result.tables[0].path).to_pylist()
    by_user_ts = {(r["user_id"], r["track_id"]): r for r in rows}
    expected_ts = [
        datetime(2026, 11, 20, 1, 2, 3, tzinfo=UTC),
        datetime(2026, 11, 20, 1, 2, 3, 500000, tzinfo=UTC),
        datetime(2026, 11, 20, 23, 59, 59, 123456, tzinfo=UTC),
        datetime(2026, 11, 20, 5, 0, 0, tzinfo=UTC),
    ]
    for record, ts in zip(records, expected_ts, strict=True):
        row = by_user_ts[(record["user_id"], record["track_id"])]
        assert row["timestamp"] == ts
        for key in ("cached", "shuffle", "offline", "completion", "discovery", "stream_length", "source_uri"):
            assert row[key] == record[key]
    assert result.lines_total == 4 and result.rejected == 0 and result.rejects_path is None


def test_sort_order_nulls_last_and_users_int32(layout, archive):
    users = [
        {"user_id": "u3", "country": "SE", "birth_year": 1990, "account_age_days": 10},
        {"user_id": "u1", "country": None, "birth_year": None},
        {"user_id": "u2", "country": "SE", "birth_year": 2001},
        {"user_id": "u0", "country": "DE", "account_age_days": 5},
    ]
    result = _land(layout, "users", [archive("users", "users.gz", users)])
    table = pq.read_table(result.tables[0].path)
    assert table.column("user_id").to_pylist() == ["u0", "u2", "u3", "u1"]
    assert table.schema.field("birth_year").type == USERS.schema.field("birth_year").type
    assert table.column("birth_year").to_pylist() == [None, 2001, 1990, None]
    assert result.tables[0].null_counts["birth_year"] == 2
    assert result.tables[0].null_counts["gender"] == 4  # missing optional field -> null


def test_streams_sorted_across_files(layout, archive):
    files = [
        archive("streams", "US.gz", stream_records(300, seed=1, country="US")),
        archive("streams", "DE.gz", stream_records(200, seed=2, country="DE")),
    ]
    result = _land(layout, "streams", files)
    table = pq.read_table(result.tables[0].path)
    keys = list(zip(*(table.column(c).to_pylist() for c in STREAMS.sort_by), strict=True))
    assert keys == sorted(keys) and len(keys) == 500
    assert result.lines_total == 500
    sources = set(table.column("_source_file").to_pylist())
    assert sources == {
        f"archive/streams/licensor={LICENSOR}/date={DAY}/US.gz",
        f"archive/streams/licensor={LICENSOR}/date={DAY}/DE.gz",
    }
    assert set(table.column("_loaded_at").to_pylist()) == {LOADED_AT}


def test_file_shape_schema_zstd_and_statistics(layout, archive):
    result = _land(layout, "tracks", [archive("tracks", "t.gz", [TRACK])])
    table_result = result.tables[0]
    assert table_result.path is not None and table_result.path.suffix == ".parquet"
    assert current_files(layout, "tracks") == [str(table_result.path)]  # one commit, one data file
    assert table_result.path.parent.parts[-2:] == (f"licensor={LICENSOR}", f"date={DAY}")
    schema = pq.read_schema(table_result.path)
    # The declared columns, then the partition's licensor and date (in the file: Iceberg data).
    assert schema.names == [*TRACKS.schema.names, "licensor", "date"]
    assert table_result.schema.remove_metadata().equals(TRACKS.schema)
    meta = pq.ParquetFile(table_result.path).metadata
    column = meta.row_group(0).column(0)
    assert column.compression == "ZSTD" and column.statistics.has_min_max
    sorting = meta.row_group(0).sorting_columns
    assert [schema.names[c.column_index] for c in sorting] == list(TRACKS.sort_by)
    assert table_column_schema(TRACKS)[-3:] == [
        ("_extra", "string"),
        ("_source_file", "string"),
        ("_loaded_at", "timestamp[us, tz=UTC]"),
    ]


def test_streams_delta_encode_user_ids_and_timestamps_and_keep_every_statistic(layout, archive):
    """A dictionary over columns with about a value per row is built, then dropped (RESULTS.md,
    issue 24 round 4): those two are delta-encoded, the others keep their dictionaries, and every
    column keeps its min/max statistics, so filters on any of them still skip row groups."""
    result = _land(layout, "streams", [archive("streams", "US.gz", stream_records(500))])
    path = result.tables[0].path
    meta = pq.ParquetFile(path).metadata.row_group(0)
    columns = {meta.column(i).path_in_schema: meta.column(i) for i in range(meta.num_columns)}
    assert "DELTA_BINARY_PACKED" in columns["timestamp"].encodings
    assert "DELTA_LENGTH_BYTE_ARRAY" in columns["user_id"].encodings
    for name in ("track_id", "country", "source", "_source_file", "_loaded_at"):
        assert "RLE_DICTIONARY" in columns[name].encodings, name
    for name in ("timestamp", "user_id", "track_id", "country", "source", "stream_length"):
        assert columns[name].statistics.has_min_max, name
    assert pq.read_table(path).num_rows == 500


def test_rerun_replaces_partition(layout, archive):
    path = archive("streams", "US.gz", stream_records(50))
    first = _land(layout, "streams", [path])
    second = _land(layout, "streams", [path])
    assert first.tables[0].rows == second.tables[0].rows == 50
    assert pq.read_table(second.tables[0].path).num_rows == 50
    assert not list(layout.staging_root.iterdir())  # scratch space cleaned up


def test_iceberg_data_files_read_with_duckdb(layout, archive):
    _land(layout, "streams", [archive("streams", "US.gz", stream_records(30))])
    con = duckdb.connect()
    row = con.execute(
        "SELECT licensor, CAST(date AS VARCHAR), count(*), count(DISTINCT _source_file) "
        "FROM read_parquet(?) GROUP BY ALL",
        [current_files(layout, "streams")],
    ).fetchone()
    assert row == (LICENSOR, str(DAY), 30, 1)


def test_empty_inputs_write_empty_partitions(layout, archive):
    empty_gz = archive("tracks", "empty.gz", [])
    zero_bytes = layout.archive_partition("tracks", LICENSOR, DAY) / "zero.gz"
    zero_bytes.write_bytes(b"")
    for files in ([], [empty_gz], [zero_bytes]):
        result = _land(layout, "tracks", files)
        assert result.lines_total == 0 and result.tables[0].rows == 0
        assert result.tables[0].path is None  # no rows, no data file: Iceberg has no empty partition
        assert partition_rows(layout, "tracks", LICENSOR, DAY) is None
        table = lake_tables(layout).load("tracks")
        assert (
            table is not None and table.schema().as_arrow().names[: len(TRACKS.schema)] == TRACKS.schema.names
        )


def test_same_file_listed_twice_lands_once(layout, archive):
    path = archive("streams", "US.gz", stream_records(25))
    result = _land(layout, "streams", [path, path.parent / ".." / path.parent.name / path.name])
    assert result.tables[0].rows == 25 and result.lines_total == 25


def test_bad_arguments_are_refused(layout, archive):
    path = archive("streams", "US.gz", stream_records(2))
    with pytest.raises(ValueError, match="max_reject_share"):
        _land(layout, "streams", [path], max_reject_share=1.5)
    with pytest.raises(ValueError, match="timezone-aware"):
        land_partition(
            layout, report_by_name("streams"), LICENSOR, DAY, [path], loaded_at=datetime(2026, 1, 1)
        )
    assert partition_rows(layout, "streams", LICENSOR, DAY) is None


@pytest.mark.parametrize("limit", [1, 5, 16, 100])
def test_has_line_longer_than_agrees_with_measuring_every_line(limit):
    import random

    from pipeline.ingest.landing.flat import has_line_longer_than

    rng = random.Random(limit)
    for _ in range(300):
        lines = [
            b"x" * rng.choice([0, 1, limit - 1, limit, limit + 1, 3 * limit])
            for _ in range(rng.randint(1, 8))
        ]
        data = b"\n".join(lines) + (b"\n" if rng.random() < 0.5 else b"")
        assert has_line_longer_than(data, limit) == (max(map(len, data.split(b"\n"))) > limit), data


def test_count_lines_counts_every_newline_across_its_slices():
    """Blocks are counted in slices (flat._COUNT_SLICE): newlines at, before and after every slice
    edge, and a last line without a newline, all count."""
    import random

    from pipeline.ingest.landing.flat import _COUNT_SLICE, count_lines

    rng = random.Random(7)
    size = 3 * _COUNT_SLICE + 17
    edges = [k * _COUNT_SLICE + d for k in range(1, 4) for d in (-1, 0, 1) if k * _COUNT_SLICE + d < size]
    for _ in range(20):
        data = bytearray(b"x" * size)
        for at in edges + [rng.randrange(size) for _ in range(rng.randint(0, 50))]:
            data[at] = 10
        data[-1] = rng.choice([10, 120])
        assert count_lines(bytes(data)) == data.count(b"\n") + (not data.endswith(b"\n"))
    assert count_lines(b"\n") == 1 and count_lines(b"a\nb") == 2


TIMESTAMP_SPELLINGS = [
    "2026-11-20T01:02:03Z",
    "2026-11-20T01:02:03.5Z",
    "2026-11-20T23:59:59.123456Z",
    "2026-11-20T05:00:00",
    "2026-11-20 05:00:00Z",
    "2026-11-20T03:00:00+02:00",
    "2026-11-20T03:00:00.1234567Z",
    "2026-11-20",
    "20261120T010203Z",
    "2026-11-20T25:00:00Z",
    "yesterday",
    "",
    1763600523,
]


def _rows_of(result) -> list[dict]:
    path = result.tables[0].path
    return pq.read_table(path).drop_columns(["_loaded_at"]).to_pylist() if path is not None else []


@pytest.mark.parametrize("spelling", TIMESTAMP_SPELLINGS)
def test_fast_path_timestamps_agree_with_the_line_by_line_path(layout, archive, monkeypatch, spelling):
    """The fast path reads timestamps as strings and casts them; whatever it accepts must land exactly
    as the slow path (the lossless per-field cast) lands it, and what it refuses goes line by line."""
    from pipeline.ingest.landing.flat import FlatParser

    records = [{**rec, "timestamp": spelling} for rec in stream_records(3)]
    fast = _land(layout, "streams", [archive("streams", "US.gz", records)], max_reject_share=1.0)
    fast_rows = _rows_of(fast)
    monkeypatch.setattr(FlatParser, "prepare", lambda self, data: None)
    slow = _land(layout, "streams", [archive("streams", "US.gz", records)], max_reject_share=1.0)
    slow_rows = _rows_of(slow)
    assert (fast.rejected, fast_rows) == (slow.rejected, slow_rows)
