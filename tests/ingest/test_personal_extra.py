"""Undeclared fields of personal reports follow the declared policy, never land in clear in `_extra`."""

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


def _land(layout, archive, report: str, records, privacy: Privacy):
    path = archive(report, "US.gz", records)
    options = LandingOptions(privacy=privacy)
    result = land_partition(
        layout, report_by_name(report), LICENSOR, DAY, [path], loaded_at=LOADED_AT, options=options
    )
    return pq.read_table(result.tables[0].path).column("_extra").to_pylist(), result


@pytest.mark.parametrize("pseudonymize", [True, False])
def test_undeclared_fields_of_personal_reports_are_pseudonymized_or_dropped(layout, archive, pseudonymize):
    records = [dict(r, email=EMAIL) for r in stream_records(20)]
    privacy = Privacy(pseudonymize=pseudonymize, key=KEY if pseudonymize else b"")
    extras, result = _land(layout, archive, "streams", records, privacy)
    assert result.unknown_fields == {"email": 20}  # the drift is still reported
    if pseudonymize:
        assert {json.loads(e)["email"] for e in extras} == {pseudonym(KEY, json.dumps(EMAIL))}
    else:
        assert extras == [None] * 20
    assert EMAIL not in pq.read_table(result.tables[0].path).to_pandas().to_csv()


def test_undeclared_fields_of_other_reports_are_kept(layout, archive):
    record = {"track_id": "a" * 22, "track_name": "Song", "duration_ms": 1000, "mood": "calm"}
    extras, _result = _land(layout, archive, "tracks", [record], Privacy())
    assert [json.loads(e) for e in extras] == [{"mood": "calm"}]
