"""Blocking checks run on the staged partition: a bad day is refused and the lake keeps the old one."""

from __future__ import annotations

import json

import pyarrow.parquet as pq
import pytest

from pipeline.ingest.landing import land_partition
from pipeline.ingest.landing.gate import BLOCKED_FILE, UNIT_CHECK, BlockedByChecksError
from pipeline.ingest.tally import TALLY_FILE, RejectTally
from pipeline.reports import report_by_name
from tests.kits.fake_lake import partition_rows
from tests.kits.ndjson import dumps, stream_records

from .conftest import DAY, LICENSOR, LOADED_AT


def _land(layout, report, files, **kwargs):
    return land_partition(layout, report_by_name(report), LICENSOR, DAY, files, loaded_at=LOADED_AT, **kwargs)


def _in_seconds(records):
    for record in records:
        yield dict(record, stream_length=record["stream_length"] // 1000)


def test_stream_length_in_seconds_is_refused_before_publishing(layout, archive):
    good = _land(layout, "streams", [archive("streams", "US.gz", stream_records(40))])
    before = good.tables[0].path.read_bytes()
    bad = archive("streams", "US.gz", _in_seconds(stream_records(40, seed=9)))
    with pytest.raises(BlockedByChecksError) as blocked:
        _land(layout, "streams", [bad])
    failed = {o.check: o for o in blocked.value.failed}
    assert set(failed) == {"all_at_least_30s", UNIT_CHECK}
    assert failed[UNIT_CHECK].field == "stream_length" and "seconds" in failed[UNIT_CHECK].detail
    message = str(blocked.value)
    assert "stream_length" in message and UNIT_CHECK in message and "previous version is kept" in message
    assert good.tables[0].path.read_bytes() == before  # the lake keeps the previous version
    sample = json.loads(blocked.value.sample_path.read_text())
    rows = next(s for s in sample if s["check"] == UNIT_CHECK)["sample"]
    assert rows and all(r["stream_length"] < 1000 and "user_id" not in r for r in rows)


def test_sub30_in_seconds_passes_the_bounds_but_not_the_unit_check(layout, archive):
    records = [dict(r, stream_length=r["stream_length"] % 29) for r in stream_records(30)]
    with pytest.raises(BlockedByChecksError) as blocked:
        _land(layout, "sub30_streams", [archive("sub30_streams", "US.gz", records)])
    assert [o.check for o in blocked.value.failed] == [UNIT_CHECK]
    assert partition_rows(layout, "sub30_streams", LICENSOR, DAY) is None  # nothing published


def test_a_good_day_after_a_blocked_one_publishes_and_clears_the_report(layout, archive):
    with pytest.raises(BlockedByChecksError):
        _land(layout, "streams", [archive("streams", "US.gz", _in_seconds(stream_records(20)))])
    blocked = layout.rejects_partition("streams", LICENSOR, DAY) / BLOCKED_FILE
    assert blocked.exists()
    result = _land(layout, "streams", [archive("streams", "US.gz", stream_records(20))])
    assert pq.read_metadata(result.tables[0].path).num_rows == 20 and not blocked.exists()


def test_the_tally_records_rejects_by_reason_track_and_country(layout, archive):
    records = list(stream_records(200))
    cut = dumps(records[10])
    lines = [dumps(r) for r in records[:10]] + [cut[: len(cut) // 2]] + [dumps(r) for r in records[11:]]
    result = _land(layout, "streams", [archive("streams", "streams_2026-11-20_US.json.gz", lines, raw=True)])
    assert result.rejected == 1
    path = layout.rejects_partition("streams", LICENSOR, DAY) / TALLY_FILE
    tally = RejectTally.from_json(path.read_bytes())
    assert (tally.lines, tally.rejected, tally.unattributed) == (200, 1, 0)
    assert tally.attributed == {(records[10]["track_id"], "US"): 1}
    assert list(tally.reasons) == ["malformed JSON"]
    assert records[10]["user_id"] not in path.read_text()  # the tally holds no personal data
