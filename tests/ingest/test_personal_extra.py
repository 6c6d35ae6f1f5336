"""Undeclared fields of personal reports follow the declared policy: as sent when pseudonymization is
off, pseudonymized when it is on unless the field map lists them as not personal; always drift."""

from __future__ import annotations

import json

import pyarrow.parquet as pq
import pytest

from pipeline.ingest.landing import LandingOptions, land_partition
from pipeline.ingest.landing.privacy import Privacy, pseudonym
from pipeline.reports import report_by_name
from tests.kits.ndjson import stream_records

from .conftest import DAY, LICENSOR, LOADED_AT

KEY = b"test-pseudonym-key-0123456789"
EMAIL = "listener@example.com"


def _land(layout, archive, report: str, records, privacy: Privacy, field_map=None):
    path = archive(report, "US.gz", records, raw=bool(records) and isinstance(records[0], str))
    options = LandingOptions(privacy=privacy, field_map=field_map)
    result = land_partition(
        layout, report_by_name(report), LICENSOR, DAY, [path], loaded_at=LOADED_AT, options=options
    )
    return pq.read_table(result.tables[0].path).column("_extra").to_pylist(), result


@pytest.mark.parametrize("report", ["streams", "sub30_streams"])
@pytest.mark.parametrize("pseudonymize", [True, False])
def test_undeclared_fields_of_personal_reports_follow_the_policy(layout, archive, pseudonymize, report):
    records = [dict(r, email=EMAIL) for r in stream_records(20)]
    if report == "sub30_streams":
        records = [dict(r, stream_length=r["stream_length"] % 30_000) for r in records]
    privacy = Privacy(pseudonymize=pseudonymize, key=KEY if pseudonymize else b"")
    extras, result = _land(layout, archive, report, records, privacy)
    assert result.unknown_fields == {"email": 20}  # the drift is reported either way
    if pseudonymize:
        assert {json.loads(e)["email"] for e in extras} == {pseudonym(KEY, json.dumps(EMAIL))}
        assert EMAIL not in pq.read_table(result.tables[0].path).to_pandas().to_csv()
    else:  # the user chose raw ids: undeclared fields are kept as sent too
        assert extras == [f'{{"email":"{EMAIL}"}}'] * 20


def test_fields_listed_not_personal_stay_byte_exact_when_pseudonymizing(layout, archive, tmp_path):
    field_map = tmp_path / "fields.toml"
    field_map.write_text('[streams]\nnot_personal = ["device_class", "episode"]\n')
    records = [
        json.dumps(r)[:-1]
        + ', "device_class": "tv", "episode": {"n": 12345678901234567890}, "email": "a@b.c"}'
        for r in stream_records(10)
    ]
    extras, result = _land(
        layout, archive, "streams", records, Privacy(pseudonymize=True, key=KEY), field_map=field_map
    )
    assert result.unknown_fields == {"device_class": 10, "email": 10, "episode": 10}
    for extra in extras:
        assert extra.startswith('{"device_class":"tv","episode":{"n": 12345678901234567890},"email":"')
        assert "a@b.c" not in extra and json.loads(extra)["email"] == pseudonym(KEY, json.dumps("a@b.c"))


def test_undeclared_fields_of_other_reports_are_kept(layout, archive):
    record = {"track_id": "a" * 22, "track_name": "Song", "duration_ms": 1000, "mood": "calm"}
    extras, _result = _land(layout, archive, "tracks", [record], Privacy())
    assert [json.loads(e) for e in extras] == [{"mood": "calm"}]
