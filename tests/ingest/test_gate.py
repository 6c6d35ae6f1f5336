"""Blocking checks run on the staged partition: a bad day is refused and the lake keeps the old one."""

from __future__ import annotations

import gzip
import json

import pyarrow.parquet as pq
import pytest

from pipeline.ingest.landing import land_partition
from pipeline.ingest.landing.errors import TooManyRejectsError
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


def test_stream_length_in_seconds_is_rejected_line_by_line_and_the_day_refused(layout, archive):
    good = _land(layout, "streams", [archive("streams", "US.gz", stream_records(40))])
    before = good.tables[0].path.read_bytes()
    bad = archive("streams", "US.gz", _in_seconds(stream_records(40, seed=9)))
    with pytest.raises(TooManyRejectsError) as refused:
        _land(layout, "streams", [bad])
    assert refused.value.rejected == 40
    assert good.tables[0].path.read_bytes() == before  # the lake keeps the previous version
    reasons = [json.loads(line)["reason"] for line in _rejects(layout, "streams")]
    assert len(reasons) == 40 and all("under 30000 ms" in r and "seconds" in r for r in reasons)


def test_one_short_stream_is_a_rejected_line_not_a_blocked_day(layout, archive):
    records = list(stream_records(200, seed=3))
    records[17] = dict(records[17], stream_length=29_999)
    result = _land(layout, "streams", [archive("streams", "US.gz", records)])
    assert result.rejected == 1 and result.tables[0].rows == 199
    [reject] = [json.loads(line) for line in _rejects(layout, "streams")]
    assert reject["line"] == 18 and "'stream_length': 29999 is under 30000 ms" in reject["reason"]


def test_a_quick_skip_heavy_sub30_day_passes_the_unit_check(layout, archive):
    """Most plays under a second (the old median test refused this); one of 30 ms or more passes."""
    records = [dict(r, stream_length=400 + i % 500) for i, r in enumerate(stream_records(300))]
    records[5] = dict(records[5], stream_length=45)
    result = _land(layout, "sub30_streams", [archive("sub30_streams", "US.gz", records)])
    assert result.rejected == 0 and result.tables[0].rows == 300


def _rejects(layout, report):
    path = layout.rejects_partition(report, LICENSOR, DAY) / "rejects.jsonl"
    opener = gzip.open if path.read_bytes()[:2] == b"\x1f\x8b" else open
    with opener(path, "rt") as fh:
        return fh.read().splitlines()


def test_sub30_in_seconds_passes_the_bounds_but_not_the_unit_check(layout, archive):
    records = [dict(r, stream_length=r["stream_length"] % 29) for r in stream_records(30)]
    with pytest.raises(BlockedByChecksError) as blocked:
        _land(layout, "sub30_streams", [archive("sub30_streams", "US.gz", records)])
    assert [o.check for o in blocked.value.failed] == [UNIT_CHECK]
    assert partition_rows(layout, "sub30_streams", LICENSOR, DAY) is None  # nothing published


def test_a_good_day_after_a_blocked_one_publishes_and_clears_the_report(layout, archive):
    seconds = [dict(r, stream_length=r["stream_length"] % 29) for r in stream_records(40)]
    with pytest.raises(BlockedByChecksError):
        _land(layout, "sub30_streams", [archive("sub30_streams", "US.gz", seconds)])
    blocked = layout.rejects_partition("sub30_streams", LICENSOR, DAY) / BLOCKED_FILE
    assert blocked.exists()
    good = [dict(r, stream_length=r["stream_length"] % 29_000) for r in stream_records(20)]
    result = _land(layout, "sub30_streams", [archive("sub30_streams", "US.gz", good)])
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
