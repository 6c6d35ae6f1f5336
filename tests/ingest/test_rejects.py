"""Bad lines: rejected with file, exact line and reason; castable values cast; the rest kept."""

from __future__ import annotations

import gzip
import json
from dataclasses import replace

import pyarrow.parquet as pq
import pytest

from pipeline.ingest.landing import LandingOptions, TooManyRejectsError, land_partition, reader
from pipeline.ingest.landing.flat import FlatParser
from pipeline.ingest.landing.privacy import Privacy
from pipeline.reports import report_by_name
from tests.kits.ndjson import dumps, stream_records

from .conftest import DAY, LICENSOR, LOADED_AT


def _land(layout, report, files, *, options=None, **kwargs):
    """Land with raw rejects opted in (these tests check what is quoted, and where; the personal
    values in quotes are the subject of test_rejects_privacy.py)."""
    opted_in = replace(options or LandingOptions(), privacy=Privacy(raw_rejects=True))
    return land_partition(
        layout, report_by_name(report), LICENSOR, DAY, files, loaded_at=LOADED_AT, options=opted_in, **kwargs
    )


def _rejects(path):
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_malformed_line_rejected_with_exact_line_and_neighbours_kept(layout, archive):
    records = list(stream_records(6))
    lines = [dumps(r) for r in records[:2]] + ["", '{"user_id": "x", broken', "   "]
    lines += [dumps(r) for r in records[2:]]
    path = archive("streams", "US.gz", lines, raw=True)
    result = _land(layout, "streams", [path], max_reject_share=0.5)
    assert result.tables[0].rows == 6
    assert result.lines_total == 7 and result.rejected == 1
    [reject] = _rejects(result.rejects_path)
    assert reject["line"] == 4 and reject["source_file"].endswith("/US.gz")
    assert reject["reason"].startswith("malformed JSON") and reject["raw"] == '{"user_id": "x", broken'
    assert result.rejects_path == layout.rejects_partition("streams", LICENSOR, DAY) / "rejects.jsonl"


def test_castable_values_are_cast(layout, archive):
    record = next(stream_records(1))
    odd = {**record, "stream_length": "31000", "cached": "true", "shuffle": 0, "isrc": 12345, "user_id": "u9"}
    path = archive("streams", "US.gz", [record, odd])
    result = _land(layout, "streams", [path])
    assert result.rejected == 0
    row = next(r for r in pq.read_table(result.tables[0].path).to_pylist() if r["user_id"] == "u9")
    assert (row["stream_length"], row["cached"], row["shuffle"], row["isrc"]) == (31000, True, False, "12345")


@pytest.mark.parametrize(
    ("field", "value", "reason"),
    [
        ("stream_length", "12.5s", "field 'stream_length': cannot cast \"12.5s\" to int64"),
        ("stream_length", 1.5, "field 'stream_length': cannot cast 1.5 to int64"),
        (
            "cached",
            "maybe",
            "field 'cached': \"maybe\" is not a boolean (true/false, 'true'/'false', 'Y'/'N', 1/0)",
        ),
        ("timestamp", 1732060800, "field 'timestamp': cannot cast 1732060800 to timestamp[us, tz=UTC]"),
        ("timestamp", "yesterday", "field 'timestamp': cannot cast \"yesterday\" to timestamp[us, tz=UTC]"),
        ("user_id", {"id": 1}, "field 'user_id': cannot cast {\"id\": 1} to string"),
        ("user_id", None, "missing required field 'user_id'"),
        ("country", "", None),  # empty is a value, not missing
    ],
)
def test_uncastable_or_missing_required_rejected(layout, archive, field, value, reason):
    records = list(stream_records(3))
    records[1] = {**records[1], field: value}
    result = _land(layout, "streams", [archive("streams", "US.gz", records)], max_reject_share=1.0)
    if reason is None:
        assert result.rejected == 0 and result.tables[0].rows == 3
        return
    assert result.tables[0].rows == 2 and result.rejected == 1
    [reject] = _rejects(result.rejects_path)
    assert reject["line"] == 2 and reject["reason"] == reason


def test_missing_required_on_fast_path_keeps_exact_line(layout, archive):
    records = list(stream_records(2000))
    del records[1234]["track_id"]
    result = _land(layout, "streams", [archive("streams", "US.gz", records)])
    assert result.rejected == 1 and result.tables[0].rows == 1999
    [reject] = _rejects(result.rejects_path)
    assert reject == {
        "source_file": f"archive/streams/licensor={LICENSOR}/date={DAY}/US.gz",
        "line": 1235,
        "reason": "missing required field 'track_id'",
        "raw": dumps(records[1234]),
    }


def _with_user_id(raw_value: bytes) -> bytes:
    record = {**next(stream_records(1, seed=99)), "user_id": "PLACEHOLDER"}
    return dumps(record).encode().replace(b'"PLACEHOLDER"', raw_value)


@pytest.mark.parametrize(
    ("line", "reason"),
    [
        (b"null", "not a JSON object but NoneType"),
        (b"  null", "not a JSON object but NoneType"),
        (b"[1, 2]", "not a JSON object but list"),
        (b'{"user_id": "a"} {"user_id": "b"}', "malformed JSON: Extra data at column 18"),
        (b'{"user_id": "a"}null', "malformed JSON: Extra data at column 17"),
        (_with_user_id(b'"\xff\xfe"'), "invalid UTF-8 at byte"),
        (_with_user_id(b'"\\ud800"'), "field 'user_id': cannot cast \"\\ud800\" to string"),
    ],
)
def test_lines_arrow_would_misread_are_rejected(layout, archive, line, reason):
    lines = [dumps(r).encode() for r in stream_records(3)]
    path = archive("streams", "US.gz", [line, *lines, line], raw=True)
    result = _land(layout, "streams", [path], max_reject_share=1.0)
    assert result.tables[0].rows == 3 and result.rejected == 2
    rejects = _rejects(result.rejects_path)
    assert [r["line"] for r in rejects] == [1, 5]
    assert all(r["reason"].startswith(reason) for r in rejects), rejects


@pytest.mark.parametrize("where", ["in a block", "skipped while reading"])
def test_overlong_lines_rejected_across_tiny_blocks(layout, archive, monkeypatch, where):
    if where == "skipped while reading":  # small decompressed chunks: the reader drops the line
        monkeypatch.setattr(reader, "_OUT_CHUNK", 512)
    records = [dumps(r) for r in stream_records(40)]
    long_line = '{"user_id": "' + "x" * 5000 + '"}'
    lines = [*records[:10], long_line, *records[10:30], long_line, *records[30:]]
    path = archive("streams", "US.gz", lines, raw=True)
    options = LandingOptions(block_bytes=1024, max_line_bytes=2048)
    result = _land(layout, "streams", [path], max_reject_share=1.0, options=options)
    assert result.tables[0].rows == 40 and result.lines_total == 42
    rejects = _rejects(result.rejects_path)
    assert [r["line"] for r in rejects] == [11, 32]
    assert all(r["reason"].startswith("line longer than 2,048 bytes") for r in rejects)
    assert all(r["reason"].endswith("+)") == (where == "skipped while reading") for r in rejects)
    assert len(rejects[0]["raw"]) == 500


def test_too_many_rejects_fails_and_keeps_previous_partition(layout, archive):
    good = archive("streams", "US.gz", stream_records(20))
    before = _land(layout, "streams", [good])
    old_bytes = before.tables[0].path.read_bytes()
    lines = [dumps(r) for r in stream_records(20)] + ["not json"] * 2
    bad = archive("streams", "US.gz", lines, raw=True)
    with pytest.raises(TooManyRejectsError) as failure:
        _land(layout, "streams", [bad], max_reject_share=0.05)
    error = failure.value
    assert (error.rejected, error.lines) == (2, 22)
    message = str(error)
    for part in ("streams", LICENSOR, str(DAY), "2 of 22", "9.09%", "5.00%", str(error.rejects_path)):
        assert part in message
    assert len(_rejects(error.rejects_path)) == 2
    assert before.tables[0].path.read_bytes() == old_bytes


def test_clean_rerun_removes_old_rejects_file(layout, archive):
    lines = [dumps(r) for r in stream_records(5)] + ["oops"]
    first = _land(layout, "streams", [archive("streams", "US.gz", lines, raw=True)], max_reject_share=1.0)
    assert first.rejects_path is not None and first.rejects_path.exists()
    second = _land(layout, "streams", [archive("streams", "US.gz", stream_records(5))])
    assert second.rejects_path is None and not first.rejects_path.exists()


def test_rejects_count_against_share_per_line(layout, archive):
    lines = [dumps(r) for r in stream_records(99)] + ["{]"]
    result = _land(layout, "streams", [archive("streams", "US.gz", lines, raw=True)], max_reject_share=0.01)
    assert result.rejected == 1 and result.lines_total == 100  # exactly at the threshold is allowed


def test_windows_line_endings_and_bom(layout, archive):
    lines = [dumps(r) + "\r" for r in stream_records(3)]
    path = layout.archive_partition("streams", LICENSOR, DAY) / "US.gz"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(gzip.compress(b"\xef\xbb\xbf" + "\n".join(lines).encode()))  # no final newline
    result = _land(layout, "streams", [path])
    assert result.tables[0].rows == 3 and result.rejected == 0 and result.lines_total == 3


def test_fast_path_line_numbers_count_blank_lines_in_earlier_blocks(layout, archive, monkeypatch):
    fast_blocks = []
    original = FlatParser._accept_fast

    def spy(self, table, data, first_line, source):
        fast_blocks.append(first_line)
        return original(self, table, data, first_line, source)

    monkeypatch.setattr(FlatParser, "_accept_fast", spy)
    records = list(stream_records(400, seed=11))
    records[300]["track_id"] = None
    lines = [dumps(r) for r in records]
    lines[50:50] = ["", "  ", ""]  # three blank lines early on: that block goes line by line
    path = archive("streams", "US.gz", lines, raw=True)
    result = _land(layout, "streams", [path], options=LandingOptions(block_bytes=8 << 10))
    [reject] = _rejects(result.rejects_path)
    assert reject["line"] == 301 + 3 and reject["reason"] == "missing required field 'track_id'"
    assert reject["raw"] == lines[303]
    assert len(fast_blocks) > 3 and result.lines_total == 400
