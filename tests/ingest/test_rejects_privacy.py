"""Rejects quote lines of personal reports without their personal values, and only their owner
can read them: pseudonyms with the lake's key, or dropped values, even for lines that are not JSON;
rejects, blocked samples and failure logs are 0600 in 0700 directories."""

from __future__ import annotations

import json
import os
import re
import stat

import pyarrow as pa
import pytest

from pipeline.cli.failures import write_log
from pipeline.ingest.landing import LandingOptions, land_partition
from pipeline.ingest.landing.gate import BLOCKED_FILE, BlockedByChecksError
from pipeline.ingest.landing.privacy import Privacy, Pseudonymizer
from pipeline.reports import report_by_name
from tests.kits.ndjson import dumps, stream_records

from .conftest import DAY, LICENSOR, LOADED_AT

KEY = b"k" * 32
USER = "listener-3141592653-secret"
REGION = "SE-AB-secret"


def _land(layout, report, files, privacy: Privacy, **kwargs):
    return land_partition(
        layout,
        report_by_name(report),
        LICENSOR,
        DAY,
        files,
        loaded_at=LOADED_AT,
        options=LandingOptions(privacy=privacy),
        max_reject_share=1.0,
        **kwargs,
    )


def _bad_lines() -> list[str]:
    """Three refused lines naming USER: a cast error, JSON cut short, a line past RAW_CHARS."""
    record = next(stream_records(1))
    wrong = {**record, "user_id": USER, "region_code": REGION, "stream_length": "long"}
    cut = json.dumps({**record, "user_id": USER, "region_code": REGION})[:-40]
    long = json.dumps({"user_id": USER, "region_code": REGION, "note": "x" * 900, "birth_year": 1984})
    return [dumps(wrong), cut, long + "}"]


@pytest.fixture
def bad_day(archive):
    return archive("streams", "US.gz", [*map(dumps, stream_records(10)), *_bad_lines()], raw=True)


def _quotes(result) -> list[str]:
    return [json.loads(line)["raw"] for line in result.rejects_path.read_text().splitlines()]


def _mode(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def test_personal_values_are_pseudonymized_with_the_lakes_key(layout, bad_day):
    privacy = Privacy(pseudonymize=True, key=KEY)
    result = _land(layout, "streams", [bad_day], privacy)
    quotes = _quotes(result)
    assert len(quotes) == 3
    text = result.rejects_path.read_text()
    assert USER not in text and REGION not in text and "1984" not in text
    [pseudonym] = Pseudonymizer(privacy).pseudonyms(pa.array([USER])).to_pylist()
    assert all(re.search(rf'"user_id":\s*"{pseudonym}"', q) for q in quotes)  # the lake's: findable
    assert re.search(r'"stream_length":\s*"long"', quotes[0])  # what broke the line is still shown


def test_personal_values_are_dropped_without_pseudonyms_unless_raw_is_asked_for(layout, bad_day):
    result = _land(layout, "streams", [bad_day], Privacy())
    text = result.rejects_path.read_text()
    assert USER not in text and REGION not in text
    assert all(re.search(r'"user_id":\s*"<dropped>"', q) for q in _quotes(result))
    raw = _land(layout, "streams", [bad_day], Privacy(raw_rejects=True))
    assert all(USER in q for q in _quotes(raw))  # the operator's explicit choice


def test_rejects_and_blocked_samples_are_owner_only(layout, archive, bad_day):
    old = os.umask(0o022)
    try:
        result = _land(layout, "streams", [bad_day], Privacy())
        rejects = result.rejects_path
        assert _mode(rejects) == 0o600
        root = layout.data_dir / "rejects"
        for directory in (rejects.parent, *rejects.parent.parents):
            assert _mode(directory) == 0o700, directory
            if directory == root:
                break
        # A sub-30 day in seconds: the one day-level rule the gate blocks on (the unit check).
        seconds = [dict(r, stream_length=r["stream_length"] % 29) for r in stream_records(40)]
        with pytest.raises(BlockedByChecksError):
            _land(layout, "sub30_streams", [archive("sub30_streams", "US.gz", seconds)], Privacy())
        blocked = layout.rejects_partition("sub30_streams", LICENSOR, DAY) / BLOCKED_FILE
        assert _mode(blocked) == 0o600 and _mode(blocked.parent) == 0o700
    finally:
        os.umask(old)


def test_failure_logs_are_owner_only(tmp_path):
    old = os.umask(0o022)
    try:
        path = write_log(RuntimeError(f"line 3: {USER}"), ["load"], [tmp_path / "data" / "logs"])
    finally:
        os.umask(old)
    assert path is not None and USER in path.read_text()
    assert _mode(path) == 0o600 and _mode(path.parent) == 0o700
