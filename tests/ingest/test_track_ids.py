"""Track ids in every wire form land as base62; an id of no known form is rejected and counted."""

from __future__ import annotations

import json

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from pipeline.ingest.landing import land_partition
from pipeline.ingest.landing.trackids import normalize_column
from pipeline.reports import report_by_name
from pipeline.spotify_ids import base62_to_gid
from tests.kits.ndjson import dumps, stream_records

from .conftest import DAY, LICENSOR, LOADED_AT

SLOW = "not json: sends the whole block to the line-by-line path"


def _forms(records: list[dict]) -> list[dict]:
    """Every third id as a URI, every third as an upper-case gid, the rest as sent."""
    out = []
    for i, record in enumerate(records):
        track_id = record["track_id"]
        if i % 3 == 1:
            track_id = f"spotify:track:{track_id}"
        elif i % 3 == 2 and track_id < "7":  # a base62 string above 2**128 has no gid
            track_id = base62_to_gid(track_id).upper()
        out.append({**record, "track_id": track_id, "user_id": f"u{i}"})
    return out


def _land(layout, files, report="streams", **kwargs):
    return land_partition(layout, report_by_name(report), LICENSOR, DAY, files, loaded_at=LOADED_AT, **kwargs)


@pytest.mark.parametrize("slow_path", [False, True], ids=["fast-path", "slow-path"])
def test_uri_and_gid_forms_land_as_base62(layout, archive, slow_path):
    records = list(stream_records(90))
    wire = _forms(records)
    assert sum(len(r["track_id"]) == 32 for r in wire) > 5
    lines = [dumps(r) for r in wire] + ([SLOW] if slow_path else [])
    result = _land(layout, [archive("streams", "US.gz", lines, raw=True)], max_reject_share=1.0)
    rows = pq.read_table(result.tables[0].path, columns=["user_id", "track_id"]).to_pylist()
    got = {r["user_id"]: r["track_id"] for r in rows}
    assert got == {f"u{i}": r["track_id"] for i, r in enumerate(records)}
    assert result.invalid_track_ids == 0


@pytest.mark.parametrize("slow_path", [False, True], ids=["fast-path", "slow-path"])
def test_an_id_of_no_known_form_is_rejected_with_its_reason(layout, archive, slow_path):
    records = _forms(list(stream_records(30)))
    records[4]["track_id"] = "spotify:episode:4uLU6hMCjMI75M1A2tKUQC"
    records[9]["track_id"] = "not-an-id"
    lines = [dumps(r) for r in records] + ([SLOW] if slow_path else [])
    result = _land(layout, [archive("streams", "US.gz", lines, raw=True)], max_reject_share=1.0)
    rejects = [json.loads(x) for x in result.rejects_path.read_text().splitlines()]
    forms = "(base62, spotify:track: URI or 32-hex gid)"
    assert [(r["line"], r["reason"]) for r in rejects[:2]] == [
        (
            5,
            f"field 'track_id': \"spotify:episode:4uLU6hMCjMI75M1A2tKUQC\" is not a Spotify track id {forms}",
        ),
        (10, f"field 'track_id': \"not-an-id\" is not a Spotify track id {forms}"),
    ]
    assert result.invalid_track_ids == 2
    assert result.tables[0].rows == 28


def test_tracks_report_ids_are_normalized(layout, archive):
    track = {"track_id": "4uLU6hMCjMI75M1A2tKUQC", "duration_ms": 1000}
    lines = [track, {**track, "track_id": base62_to_gid("6XzVwqHQdt8cTqV2N7lFkN")}]
    result = _land(layout, [archive("tracks", "tracks.gz", lines)], report="tracks")
    rows = pq.read_table(result.tables[0].path, columns=["track_id"]).column(0).to_pylist()
    assert rows == ["4uLU6hMCjMI75M1A2tKUQC", "6XzVwqHQdt8cTqV2N7lFkN"]


def test_normalize_column_leaves_base62_untouched_and_flags_junk():
    clean = pa.chunked_array([["4uLU6hMCjMI75M1A2tKUQC", None]])
    same, bad = normalize_column(clean)
    assert same is clean and bad is None
    column, bad = normalize_column(
        pa.array(
            [" spotify:track:4uLU6hMCjMI75M1A2tKUQC", "x", None, base62_to_gid("4uLU6hMCjMI75M1A2tKUQC")]
        )
    )
    assert column.to_pylist() == ["4uLU6hMCjMI75M1A2tKUQC", "x", None, "4uLU6hMCjMI75M1A2tKUQC"]
    assert bad.to_pylist() == [False, True, False, False]
