"""Schema drift kept in `_extra`, and the spill path giving the same file as the in-memory one."""

from __future__ import annotations

import json

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from pipeline.ingest.landing import LandingOptions, SinkSettings, land_partition
from pipeline.ingest.landing.flat import FlatParser
from pipeline.reports import report_by_name
from tests.kits.ndjson import dumps, stream_records

from .conftest import DAY, LICENSOR, LOADED_AT


def _land(layout, report, files, **kwargs):
    return land_partition(layout, report_by_name(report), LICENSOR, DAY, files, loaded_at=LOADED_AT, **kwargs)


def _extras_by_user(result):
    rows = pq.read_table(result.tables[0].path, columns=["user_id", "_extra"]).to_pylist()
    return {r["user_id"]: (json.loads(r["_extra"]) if r["_extra"] else None) for r in rows}


def _drifted_records():
    records = [{**r, "user_id": f"u{i}"} for i, r in enumerate(stream_records(6))]
    records[1]["new_field"] = 7
    records[2]["new_field"] = 8
    records[2]["nested"] = {"a": [1, "x"], "b": None}
    records[3]["when"] = "2026-11-20T10:00:00"
    records[4]["note"] = 'quote " and ünïcode'
    records[5]["gone"] = None  # an explicit null is not drift worth keeping
    return records


EXPECTED_EXTRAS = {
    "u0": None,
    "u1": {"new_field": 7},
    "u2": {"new_field": 8, "nested": {"a": [1, "x"], "b": None}},
    "u3": {"when": "2026-11-20T10:00:00"},
    "u4": {"note": 'quote " and ünïcode'},
    "u5": None,
}


def _extras_in_clear(monkeypatch) -> None:
    """These tests read what the parser put in `_extra`: switch off the personal-table policy
    (pseudonymize or drop; tested in test_personal_extra.py) that landing applies after it."""
    monkeypatch.setattr("pipeline.ingest.landing.personal.PERSONAL_TABLES", frozenset())


def test_unknown_fields_go_to_extra_on_slow_path(layout, archive, monkeypatch):
    _extras_in_clear(monkeypatch)
    result = _land(layout, "streams", [archive("streams", "US.gz", _drifted_records())])
    assert _extras_by_user(result) == EXPECTED_EXTRAS
    assert result.unknown_fields == {"nested": 1, "new_field": 2, "note": 1, "when": 1}
    assert result.tables[0].null_counts["_extra"] == 2


def _count_paths(monkeypatch):
    calls = {"fast": 0, "slow": 0}
    fast, slow = FlatParser._accept_fast, FlatParser._slow

    def counted_fast(self, *args):
        calls["fast"] += 1
        return fast(self, *args)

    def counted_slow(self, *args):
        calls["slow"] += 1
        return slow(self, *args)

    monkeypatch.setattr(FlatParser, "_accept_fast", counted_fast)
    monkeypatch.setattr(FlatParser, "_slow", counted_slow)
    return calls


def test_unknown_fields_go_to_extra_on_fast_path(layout, archive, monkeypatch):
    # Same drift, one type per field, so Arrow's reader takes the block whole (_extra from raw lines).
    _extras_in_clear(monkeypatch)
    calls = _count_paths(monkeypatch)
    records = _drifted_records()
    records[2]["nested"] = {"a": ["1", "x"], "b": None}
    expected = {**EXPECTED_EXTRAS, "u2": {"new_field": 8, "nested": {"a": ["1", "x"], "b": None}}}
    result = _land(layout, "streams", [archive("streams", "US.gz", records)])
    assert _extras_by_user(result) == expected
    assert result.unknown_fields == {"nested": 1, "new_field": 2, "note": 1, "when": 1}
    assert calls == {"fast": 1, "slow": 0}


def test_missing_optional_fields_are_null(layout, archive):
    records = [{k: v for k, v in r.items() if k not in ("os", "discovery")} for r in stream_records(4)]
    result = _land(layout, "streams", [archive("streams", "US.gz", records)])
    table = pq.read_table(result.tables[0].path)
    assert table.column("os").null_count == 4 and table.column("discovery").null_count == 4
    assert result.tables[0].null_counts["os"] == 4 and result.tables[0].null_counts["track_id"] == 0
    assert result.unknown_fields == {}


@pytest.mark.parametrize(("fan_in", "batch_rows"), [(32, 8192), (2, 100)])
def test_spill_path_matches_in_memory(layout, archive, fan_in, batch_rows):
    files = [
        archive("streams", "US.gz", stream_records(3000, seed=3, country="US")),
        archive("streams", "BR.gz", stream_records(2000, seed=4, country="BR")),
    ]
    in_memory = _land(layout, "streams", files)
    expected = pq.read_table(in_memory.tables[0].path)
    sink = SinkSettings(
        spill_bytes=100 << 10, row_group_rows=1000, merge_fan_in=fan_in, merge_batch_rows=batch_rows
    )
    tiny = LandingOptions(block_bytes=64 << 10, sink=sink)
    messages = []
    spilled = _land(layout, "streams", files, options=tiny, on_progress=messages.append)
    assert any("spilled run(s)" in m for m in messages), messages
    actual = pq.read_table(spilled.tables[0].path)
    assert actual.schema.equals(expected.schema)
    keys = ["country", "track_id", "timestamp", "user_id", "stream_length"]
    assert actual.sort_by([(k, "ascending") for k in keys]).equals(
        expected.sort_by([(k, "ascending") for k in keys])
    )
    sort_keys = list(
        zip(*(actual.column(c).to_pylist() for c in ("country", "track_id", "timestamp")), strict=True)
    )
    assert sort_keys == sorted(sort_keys)
    meta = pq.ParquetFile(spilled.tables[0].path).metadata
    assert meta.num_row_groups == 5 and meta.row_group(0).num_rows == 1000
    assert spilled.tables[0].null_counts == in_memory.tables[0].null_counts


def test_mixed_fast_and_slow_blocks_agree(layout, archive, monkeypatch):
    records = list(stream_records(400, seed=5))
    clean = _land(layout, "streams", [archive("streams", "US.gz", records)])
    expected = pq.read_table(clean.tables[0].path)
    lines = [dumps(r) for r in records]
    lines[200] = lines[200] + "   "  # harmless trailing spaces ...
    lines.insert(300, "")  # ... and a blank line: that block goes line by line
    small_blocks = LandingOptions(block_bytes=16 << 10)
    calls = _count_paths(monkeypatch)
    mixed = _land(layout, "streams", [archive("streams", "US.gz", lines, raw=True)], options=small_blocks)
    assert mixed.rejected == 0 and mixed.lines_total == 400
    assert calls["fast"] >= 3 and calls["slow"] == 1
    assert pq.read_table(mixed.tables[0].path).equals(expected)


def test_spilled_runs_keep_nulls_last(layout, archive):
    users = [
        {"user_id": f"u{i:04d}", "country": None if i % 7 == 0 else ["SE", "DE", "BR"][i % 3]}
        for i in range(3000)
    ]
    files = [archive("users", "users.gz", users)]
    sink = SinkSettings(spill_bytes=20 << 10, merge_fan_in=3, merge_batch_rows=50)
    messages = []
    options = LandingOptions(block_bytes=16 << 10, sink=sink)
    result = _land(layout, "users", files, options=options, on_progress=messages.append)
    runs = int(next(m for m in messages if "spilled" in m).split(" after ")[1].split()[0])
    assert runs > 3  # more than fan_in: runs were merged into longer runs first
    table = pq.read_table(result.tables[0].path)
    countries = table.column("country").to_pylist()
    nulls = countries.count(None)
    assert nulls == len([u for u in users if u["country"] is None])
    assert countries[-nulls:] == [None] * nulls
    keys = list(zip(countries[:-nulls], table.column("user_id").to_pylist()[:-nulls], strict=True))
    assert keys == sorted(keys) and table.num_rows == 3000
    assert table.column("user_id").to_pylist()[-nulls:] == sorted(
        u["user_id"] for u in users if u["country"] is None
    )


def _sorted_keys(table):
    keys = list(
        zip(*(table.column(c).to_pylist() for c in ("country", "track_id", "timestamp")), strict=True)
    )
    return keys == sorted(keys)


@pytest.mark.parametrize("spill_bytes", [96 << 20, 50 << 10])
def test_files_out_of_sort_order_are_merged(layout, archive, spill_bytes):
    """Files are appended as they end only while they follow the output's order; a file that sorts
    earlier (or mixes countries) goes to a late run that is merged in, so the result is the same."""
    us = list(stream_records(1500, seed=11, country="US"))
    br = list(stream_records(1200, seed=12, country="BR"))
    mixed = list(stream_records(300, seed=13, country="AR")) + list(
        stream_records(300, seed=14, country="ZA")
    )
    per_country = [archive("streams", "1-BR.gz", br), archive("streams", "2-US.gz", us)]
    shuffled = [
        archive("streams", "a-US.gz", us),  # US first: every later file sorts before it
        archive("streams", "b-BR.gz", br),
        archive("streams", "c-mixed.gz", mixed),
    ]
    options = LandingOptions(block_bytes=32 << 10, sink=SinkSettings(spill_bytes=spill_bytes, merge_fan_in=2))
    messages = []
    result = _land(layout, "streams", shuffled, options=options, on_progress=messages.append)
    table = pq.read_table(result.tables[0].path)
    assert table.num_rows == 3300 and _sorted_keys(table)
    assert any("spilled run(s)" in m for m in messages), messages  # the late runs were used
    reference = pq.read_table(_land(layout, "streams", per_country).tables[0].path)
    keys = ["country", "track_id", "timestamp", "user_id", "stream_length"]
    expected_rows = reference.sort_by([(k, "ascending") for k in keys]).drop_columns(["_source_file"])
    in_us_or_br = pc.is_in(table.column("country"), pa.array(["US", "BR"]))
    rows = table.filter(in_us_or_br).sort_by([(k, "ascending") for k in keys])
    assert rows.drop_columns(["_source_file"]).equals(expected_rows)
    meta = pq.ParquetFile(result.tables[0].path).metadata
    assert meta.row_group(0).sorting_columns  # the final file still declares its order


def test_in_order_files_are_written_once_without_runs(layout, archive):
    files = [
        archive("streams", f"{c}.gz", stream_records(500, seed=i, country=c)) for i, c in enumerate("ABC")
    ]
    messages = []
    result = _land(layout, "streams", files, on_progress=messages.append)
    assert not any("spilled" in m for m in messages), messages
    table = pq.read_table(result.tables[0].path)
    assert table.num_rows == 1500 and _sorted_keys(table)
    assert table.column("_source_file").to_pylist()[0].endswith("A.gz")


def test_sink_close_after_finish_changes_nothing(tmp_path):
    """Landing closes every sink on the way out, finished or not: a second close must neither
    raise (it would hide the real error of a failed landing) nor touch the written file."""
    from datetime import UTC, datetime

    from pipeline.ingest.landing.sink import Lineage, TableSink
    from pipeline.reports import STREAMS

    rows = FlatParser(STREAMS, max_line_bytes=1 << 20).parse(
        "\n".join(dumps(r) for r in stream_records(10)).encode(), None, 1, "US.gz"
    )
    lineage = Lineage.of(["US.gz"], datetime(2026, 11, 20, tzinfo=UTC), STREAMS.schema)
    sink = TableSink(STREAMS, tmp_path / "spill", SinkSettings(), tmp_path / "part-0.parquet", lineage)
    sink.add(rows.tables["streams"], 0)
    assert sink.finish().rows == 10
    written = (tmp_path / "part-0.parquet").read_bytes()
    sink.close()
    sink._output.close()  # the writer itself: its buffered rows were written once, not again
    assert (tmp_path / "part-0.parquet").read_bytes() == written
    assert pq.read_table(tmp_path / "part-0.parquet").num_rows == 10


@pytest.mark.parametrize("path", ["fast", "slow"])
def test_unknown_field_values_are_kept_byte_exact(layout, archive, monkeypatch, path):
    """The issue's line: a 20-digit number and an ISO timestamp came back as a float and a datetime."""
    drift = '"x":3,"big":12345678901234567890,"nested":{"at": "2026-06-10T10:00:00Z", "v": 1.50}'
    lines = [f'{{"track_id":"{"a" * 21}{n}","duration_ms":1000,{drift}}}' for n in range(5)]
    lines.append(f'{{"track_id":"{"b" * 22}","duration_ms":1000,"when":"2026-06-10T10:00:00+02:00"}}')
    calls = _count_paths(monkeypatch)
    if path == "slow":
        monkeypatch.setattr(FlatParser, "prepare", lambda self, data: None)
    result = _land(layout, "tracks", [archive("tracks", "day.gz", lines, raw=True)])
    extras = pq.read_table(result.tables[0].path).column("_extra").to_pylist()
    assert extras == ["{" + drift + "}"] * 5 + ['{"when":"2026-06-10T10:00:00+02:00"}']
    assert calls[path] == 1 and calls["fast" if path == "slow" else "slow"] == 0


def test_user_ids_are_pseudonymized_before_any_row_is_spilled(layout, archive, monkeypatch):
    """Pseudonyms are applied per file in the sink (fewer HMACs than per block), but still before
    rows are sorted or reach the disk: every run written holds pseudonyms, none a raw id, and the
    spilled landing equals the in-memory one."""
    from pipeline.ingest.landing import merge, sink
    from pipeline.ingest.landing.privacy import Privacy, pseudonym

    key = b"test-pseudonym-key-0123456789"
    records = list(stream_records(3000, seed=21, country="US"))
    raw_ids = {r["user_id"] for r in records}
    files = [archive("streams", "US.gz", records)]
    privacy = Privacy(pseudonymize=True, key=key)
    in_memory = pq.read_table(
        _land(layout, "streams", files, options=LandingOptions(privacy=privacy)).tables[0].path
    )
    written: list[set[str]] = []
    write_run = merge.write_run

    def recorded(table, path, batch_rows):
        written.append(set(table.column("user_id").to_pylist()))
        write_run(table, path, batch_rows)

    monkeypatch.setattr(sink, "write_run", recorded)
    tiny = LandingOptions(block_bytes=64 << 10, sink=SinkSettings(spill_bytes=100 << 10), privacy=privacy)
    spilled = pq.read_table(_land(layout, "streams", files, options=tiny).tables[0].path)
    assert len(written) > 1
    assert all(ids and not ids & raw_ids for ids in written)
    assert set(in_memory.column("user_id").to_pylist()) == {pseudonym(key, u) for u in raw_ids}
    assert spilled.equals(in_memory)
