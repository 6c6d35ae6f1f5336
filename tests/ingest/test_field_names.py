"""Renamed fields: registry aliases and the field map, on both parse paths; loud when a name is unknown."""

from __future__ import annotations

import json

import pyarrow.parquet as pq
import pytest

from pipeline.ingest.landing import LandingOptions, land_partition
from pipeline.ingest.landing.fieldcheck import MissingFieldError
from pipeline.ingest.landing.names import FieldMapError, aliases_for, load_field_map
from pipeline.reports import STREAMS, SUB30_STREAMS, report_by_name
from tests.kits.fake_lake import partition_rows
from tests.kits.ndjson import dumps, stream_records

from .conftest import DAY, LICENSOR, LOADED_AT

WAREHOUSE = {
    "source": "stream_source",
    "source_uri": "stream_source_uri",
    "cached": "stream_cached",
    "device_type": "stream_device",
    "os": "stream_os",
    "user_id": "customer_id",
    "country": "country_code",
}
SLOW = "not json: sends the whole block to the line-by-line path"


def _renamed(record: dict, names: dict[str, str]) -> dict:
    return {names.get(k, k): v for k, v in record.items()}


def _land(layout, files, report="streams", **kwargs):
    return land_partition(layout, report_by_name(report), LICENSOR, DAY, files, loaded_at=LOADED_AT, **kwargs)


def _rows(result):
    return pq.read_table(result.tables[0].path).to_pylist()


@pytest.mark.parametrize("slow_path", [False, True], ids=["fast-path", "slow-path"])
def test_registry_aliases_land_warehouse_names(layout, archive, slow_path):
    records = list(stream_records(40))
    lines = [dumps(_renamed(r, WAREHOUSE)) for r in records] + ([SLOW] if slow_path else [])
    result = _land(layout, [archive("streams", "US.gz", lines, raw=True)], max_reject_share=1.0)
    assert result.rejected == (1 if slow_path else 0)
    assert result.unknown_fields == {} and result.warnings == ()
    rows = _rows(result)
    by_time = {r["timestamp"]: r for r in rows}
    assert len(rows) == 40
    for field in WAREHOUSE:
        assert rows[0][field] is not None, field
    assert all(r["_extra"] is None for r in rows)
    want = sorted((r["source"], r["device_type"], r["cached"], r["user_id"]) for r in records)
    got = sorted((r["source"], r["device_type"], r["cached"], r["user_id"]) for r in by_time.values())
    assert got == want


def test_declared_name_wins_and_alias_fills_the_gaps(layout, archive):
    records = [{**r, "user_id": f"u{i}"} for i, r in enumerate(stream_records(4))]
    records[0]["stream_source"] = "radio"  # both names: the declared one wins
    del records[1]["source"]
    records[1]["stream_source"] = "search"  # only the alias: it fills in
    result = _land(layout, [archive("streams", "US.gz", records)])
    sources = {r["user_id"]: r["source"] for r in _rows(result)}
    assert sources[records[0]["user_id"]] == records[0]["source"]
    assert sources[records[1]["user_id"]] == "search"


@pytest.mark.parametrize("kind", ["toml", "json"])
@pytest.mark.parametrize("slow_path", [False, True], ids=["fast-path", "slow-path"])
def test_field_map_file_renames_a_custom_name(layout, archive, tmp_path, kind, slow_path):
    if kind == "toml":
        path = tmp_path / "fields.toml"
        path.write_text('[streams]\nsource = "play_context"\ndevice_type = ["hw", "hardware"]\n')
    else:
        path = tmp_path / "fields.json"
        path.write_text(
            json.dumps({"streams": {"source": "play_context", "device_type": ["hw", "hardware"]}})
        )
    records = [_renamed(r, {"source": "play_context", "device_type": "hardware"}) for r in stream_records(30)]
    lines = [dumps(r) for r in records] + ([SLOW] if slow_path else [])
    options = LandingOptions(field_map=path)
    file = archive("streams", "US.gz", lines, raw=True)
    result = _land(layout, [file], options=options, max_reject_share=1.0)
    rows = _rows(result)
    assert {r["source"] for r in rows} == {r["play_context"] for r in records}
    assert {r["device_type"] for r in rows} == {r["hardware"] for r in records}
    assert result.unknown_fields == {} and result.warnings == ()
    # the same file without the map lands, but warns that `source` looks renamed
    unmapped = _land(layout, [file], max_reject_share=1.0)
    assert unmapped.unknown_fields == {"hardware": 30, "play_context": 30}
    assert [w.split(" while ")[0] for w in unmapped.warnings] == [
        "streams: optional field 'source' is null in all 30 rows of US.gz",
        "streams: optional field 'device_type' is null in all 30 rows of US.gz",
    ]
    assert "SPOTIFY_BULK_FIELD_MAP" in unmapped.warnings[0]


def test_sub30_falls_back_to_the_streams_section(tmp_path):
    path = tmp_path / "fields.toml"
    path.write_text('[streams]\nsource = "ctx"\n')
    field_map = load_field_map(path)
    assert aliases_for(SUB30_STREAMS, field_map)["source"] == ("ctx", "stream_source")
    assert aliases_for(STREAMS, {})["source"] == ("stream_source",)


@pytest.mark.parametrize("slow_path", [False, True], ids=["fast-path", "slow-path"])
def test_required_field_missing_from_every_line_fails_naming_it(layout, archive, slow_path):
    records = [_renamed(r, {"track_id": "song_id", "os": "platform"}) for r in stream_records(412)]
    lines = [dumps(r) for r in records] + ([SLOW] if slow_path else [])
    with pytest.raises(MissingFieldError) as caught:
        _land(layout, [archive("streams", "US.json.gz", lines, raw=True)], max_reject_share=1.0)
    message = str(caught.value)
    assert message.startswith(
        "streams: required field 'track_id' is missing from all 412 lines of US.json.gz; "
        "unknown fields seen: "
    )
    assert "song_id" in message and "platform" in message and "SPOTIFY_BULK_FIELD_MAP" in message
    assert partition_rows(layout, "streams", LICENSOR, DAY) is None  # nothing published


def test_required_field_missing_from_some_lines_is_only_rejects(layout, archive):
    records = list(stream_records(200))
    del records[5]["track_id"]
    result = _land(layout, [archive("streams", "US.gz", records)])
    assert result.rejected == 1 and result.tables[0].rows == 199


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("[nope]\nx = 'y'\n", "unknown table [nope]"),
        ("[streams]\nvolume = 'v'\n", "[streams] has no field 'volume'"),
        ("[streams]\nsource = 'country'\n", "'country' is a declared field itself"),
        ("[streams]\nsource = 3\n", "expected a name or a list of names"),
        ("[streams\n", "cannot read it"),
    ],
)
def test_bad_field_maps_are_refused_clearly(tmp_path, text, problem):
    path = tmp_path / "fields.toml"
    path.write_text(text)
    with pytest.raises(FieldMapError, match="SPOTIFY_BULK_FIELD_MAP") as caught:
        load_field_map(path)
    assert problem in str(caught.value)


def test_one_wire_name_for_two_fields_is_refused(tmp_path):
    path = tmp_path / "fields.toml"
    path.write_text('[streams]\nos = "stream_source"\n')  # the registry maps it to `source`
    with pytest.raises(FieldMapError, match="'stream_source' is mapped to both"):
        aliases_for(STREAMS, load_field_map(path))


def test_aliases_of_other_inferred_types_are_cast_like_the_slow_path(layout, archive, tmp_path):
    path = tmp_path / "fields.toml"
    path.write_text('[streams]\ntimestamp = "played_at"\n')
    records = [_renamed(r, {"timestamp": "played_at"}) for r in stream_records(20)]
    for record in records:
        record["stream_cached"] = "true"  # text where a bool belongs: the slow path's casts decide
        del record["cached"]
    result = _land(layout, [archive("streams", "US.gz", records)], options=LandingOptions(field_map=path))
    rows = _rows(result)
    assert len(rows) == 20 and all(r["cached"] is True and r["timestamp"] is not None for r in rows)
    assert result.unknown_fields == {}


def test_the_environment_variable_reaches_landing(tmp_path):
    from pipeline.config import settings_from
    from pipeline.orchestration.resources import lake_resource

    path = tmp_path / "fields.toml"
    settings = settings_from({"SPOTIFY_BULK_FIELD_MAP": str(path), "SPOTIFY_BULK_PSEUDONYMIZE": "0"})
    assert lake_resource(settings).landing_options().field_map == path.resolve()
    assert lake_resource(settings_from({})).landing_options().field_map is None
