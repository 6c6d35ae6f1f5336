"""Field forms real files use: booleans per the registry's declared forms, gender and age labels,
the same on Arrow's fast path and the line-by-line path."""

from __future__ import annotations

import json

import pyarrow.parquet as pq
import pytest

from pipeline.ingest.landing import land_partition
from pipeline.ingest.landing.categories import age_group, gender
from pipeline.ingest.landing.flat import FlatParser
from pipeline.ingest.landing.rules import bounds_for
from pipeline.reports import STREAMS, TRACKS, USERS, report_by_name
from tests.kits.ndjson import dumps, stream_records

from .conftest import DAY, LICENSOR, LOADED_AT

FORMS = [("Y", True), ("N", False), ("y", True), ("true", True), ("FALSE", False), (1, True), (0, False)]


def _parse(spec, lines: list[str], *, fast: bool):
    block = ("\n".join(lines) + "\n").encode()
    parser = FlatParser(spec, max_line_bytes=1 << 20, bounds=bounds_for(spec, DAY))
    prepared = parser.prepare(block) if fast else None
    parsed = parser.parse(block, prepared, 1, "archive/x.gz")
    return parsed.tables[spec.name].to_pylist(), [(r.line, r.reason) for r in parsed.rejects], prepared


@pytest.mark.parametrize(("sent", "lands"), FORMS)
@pytest.mark.parametrize("name", ["completion", "completion_flag", "discovery_flag", "cached"])
def test_stream_flags_accept_the_declared_forms_on_both_paths(sent, lands, name):
    records = [dict(r) for r in stream_records(5)]
    for record in records:
        record.pop(name.removesuffix("_flag"), None)
        record[name] = sent
    lines = [dumps(r) for r in records]
    fast_rows, fast_rejects, _ = _parse(STREAMS, lines, fast=True)
    slow_rows, slow_rejects, _ = _parse(STREAMS, lines, fast=False)
    assert fast_rejects == slow_rejects == []
    assert fast_rows == slow_rows
    assert [r[name.removesuffix("_flag")] for r in fast_rows] == [lands] * 5


def test_a_block_of_y_n_flags_stays_on_the_fast_path():
    lines = [dumps({**r, "completion": "Y" if r["completion"] else "N"}) for r in stream_records(50)]
    _rows, _rejects, prepared = _parse(STREAMS, lines, fast=True)
    assert prepared is not None


@pytest.mark.parametrize("fast", [True, False])
def test_a_value_in_no_declared_form_is_a_reject_naming_the_field_and_the_forms(fast):
    records = list(stream_records(3))
    records[1] = {**records[1], "completion": "maybe"}
    rows, rejects, _ = _parse(STREAMS, [dumps(r) for r in records], fast=fast)
    assert len(rows) == 2
    assert rejects == [
        (2, "field 'completion': \"maybe\" is not a boolean (true/false, 'true'/'false', 'Y'/'N', 1/0)")
    ]


def test_fields_without_y_n_forms_reject_them():
    line = dumps({"track_id": "a" * 22, "explicit": "Y"})
    rows, rejects, _ = _parse(TRACKS, [line], fast=True)
    assert rows == [] and rejects == [
        (1, "field 'explicit': \"Y\" is not a boolean (true/false, 'true'/'false', 1/0)")
    ]


@pytest.mark.parametrize("fast", [True, False])
def test_users_gender_is_normalized(fast):
    sent = ["MALE", "FEMALE", "NEUTRAL", "Unknown", "non_binary", "other"]
    lines = [dumps({"user_id": f"u{i}", "gender": g}) for i, g in enumerate(sent)]
    rows, rejects, _ = _parse(USERS, lines, fast=fast)
    assert rejects == []
    assert [r["gender"] for r in rows] == ["male", "female", "non_binary", "unknown", "non_binary", "other"]


def test_category_spellings():
    assert [gender(g) for g in ("MALE", " Female ", "NEUTRAL", "non-binary")] == [
        "male",
        "female",
        "non_binary",
        "non_binary",
    ]
    assert [age_group(a) for a in ("0-17", "18_22", "23 – 27", "60+", "UNKNOWN", "45-59")] == [
        "0-17",
        "18-22",
        "23-27",
        "60-150",
        "unknown",
        "45-59",
    ]


def test_a_public_client_streams_file_lands_completion(layout, archive):
    records = []
    for r in stream_records(30):
        r = dict(r)
        r["completion_flag"] = "Y" if r.pop("completion") else "N"
        r["discovery_flag"] = r.pop("discovery")
        r["source"] = "play_queue"
        records.append(r)
    path = archive("streams", "US.gz", records)
    result = land_partition(layout, report_by_name("streams"), LICENSOR, DAY, [path], loaded_at=LOADED_AT)
    table = pq.read_table(result.tables[0].path)
    assert result.rejected == 0 and result.unknown_fields == {}
    assert table["completion"].null_count == 0 and table["discovery"].null_count == 0
    assert sum(table["completion"].to_pylist()) == sum(r["completion_flag"] == "Y" for r in records)
    assert set(table["source"].to_pylist()) == {"play_queue"}  # kept as sent
    assert json.dumps(table.schema.names)  # declared schema, no flag columns
    assert "completion_flag" not in table.schema.names
