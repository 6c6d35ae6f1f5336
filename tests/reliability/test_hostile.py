"""Hostile input: bombs, overlong lines, bad bytes, traversal attempts, absurd values.

Each is refused with a message saying what was wrong, and nothing is written outside the data
directory (every test's data directory sits inside an otherwise empty root that is checked).
"""

from __future__ import annotations

import asyncio
import gzip
import json
from datetime import date

import pytest

from pipeline.clients.bulk_api import BulkApiClient
from pipeline.clients.connection import Connection
from pipeline.clients.http import RetryPolicy
from pipeline.config import parse_licensors
from pipeline.errors import UsageError
from pipeline.ingest.landing import ArchiveTooLargeError, LandingOptions, land_partition
from pipeline.ingest.load import LoadFailed, load_report
from pipeline.layout import Layout, UnsafeName, safe_name
from pipeline.reports import report_by_name
from tests.kits.hostile_server import Script, hostile_server
from tests.kits.reliability import assert_inside, record

DAY = date(2026, 6, 12)
DAY_PATH = "2026/06/12"
STREAMS = report_by_name("streams")
USERS = report_by_name("users")
RECORD = {
    "timestamp": "2026-06-12T10:00:00Z",
    "user_id": "u1",
    "track_id": "4uLU6hMCjMI75M1A2tKUQC",
    "country": "US",
    "stream_length": 200_000,
}


def _load(base_url: str, data_dir, report=STREAMS, *, cap: int = 1 << 30, licensor: str = "acme"):
    async def main():
        async with BulkApiClient(
            Connection(
                base_url + "/v1/analytics",
                base_url + "/api/token",
                client_id="id",
                client_secret="secret",
                timeout=5.0,
            ),
            retry=RetryPolicy(max_attempts=3, base_delay=0.01, max_delay=0.02),
            max_decompressed_bytes=cap,
        ) as client:
            return await load_report(client, Layout(data_dir), report, licensor, DAY)

    return asyncio.run(main())


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        (f"/acme/enhanced/streams/{DAY_PATH}/../../../../../../tmp/evil", "unsafe segment '..'"),
        (f"/acme/enhanced/streams/{DAY_PATH}/..", "unsafe segment '..'"),
        (f"/acme/enhanced/streams/{DAY_PATH}/US/../../x", "unsafe segment '..'"),
        (f"/acme/enhanced/streams/{DAY_PATH}/%2e%2e", "unsafe segment '%2e%2e'"),
        (f"/acme/enhanced/streams/{DAY_PATH}/US\\..\\..\\x", "unsafe segment"),
        (f"/acme/enhanced/streams/{DAY_PATH}/.hidden", "unsafe segment '.hidden'"),
        ("/etc/passwd", "which is outside '/acme/enhanced/streams/'"),
        ("/other/enhanced/streams/2026/06/12/US", "which is outside"),
        (f"/acme/enhanced/streams/{DAY_PATH}/US/deeper", "which is not a child of"),
    ],
)
def test_listed_uris_and_country_codes_that_try_traversal_are_refused(tmp_path, entry, message):
    data_dir = tmp_path / "root" / "data"
    script = Script()
    script.tree("acme", "streams", DAY_PATH)
    script.json(
        f"/acme/enhanced/streams/{DAY_PATH}",
        [{"uri": f"/acme/enhanced/streams/{DAY_PATH}/US"}, {"uri": entry}],
    )
    script.file(f"/acme/enhanced/streams/{DAY_PATH}/US", gzip.compress(json.dumps(RECORD).encode() + b"\n"))
    with hostile_server(script) as base, pytest.raises(LoadFailed) as failure:
        _load(base, data_dir)
    text = str(failure.value)
    assert text.startswith(
        "streams for acme on 2026-06-12 failed: listing GET /v1/analytics/acme/enhanced/streams/"
    )
    assert message in text and failure.value.permanent
    assert not any("evil" in r or "passwd" in r for r in script.requests)  # never followed
    assert not (data_dir / "archive").exists() and not (data_dir / "lake").exists()
    assert_inside(data_dir, tmp_path / "root")
    record(
        "hostile inputs", f"listed uri {entry[-40:]!r}", "refused: InvalidListing, nothing fetched or written"
    )


def test_gzip_bomb_is_stopped_at_the_decompression_cap_over_http(tmp_path):
    data_dir = tmp_path / "root" / "data"
    bomb = gzip.compress(b"\0" * (64 << 20), compresslevel=9)  # 64 MB of zeros in ~64 KB
    script = Script()
    script.tree("acme", "users", DAY_PATH)
    script.file(f"/acme/enhanced/users/{DAY_PATH}", bomb)
    with hostile_server(script) as base, pytest.raises(LoadFailed, match="possible gzip bomb") as failure:
        _load(base, data_dir, USERS, cap=1 << 20)
    assert failure.value.permanent
    assert script.requests.count(f"/v1/analytics/acme/enhanced/users/{DAY_PATH}") == 1  # not retried
    assert not (data_dir / "archive" / "users").exists()
    assert list((data_dir / ".staging").iterdir()) == []  # the half download was removed
    assert_inside(data_dir, tmp_path / "root")
    record(
        "hostile inputs",
        "gzip bomb (64 MB in 64 KB) over HTTP, 1 MB cap",
        "refused: 'possible gzip bomb', no retry, nothing kept",
    )


@pytest.mark.parametrize(
    "disposition",
    ['attachment; filename="../../../etc/cron.d/evil.gz"', "attachment; filename*=UTF-8''..%2F..%2Fevil.gz"],
)
def test_file_names_that_try_traversal_are_refused(tmp_path, disposition):
    data_dir = tmp_path / "root" / "data"
    script = Script()
    script.tree("acme", "users", DAY_PATH)
    script.file(
        f"/acme/enhanced/users/{DAY_PATH}", gzip.compress(b"{}\n"), {"Content-Disposition": disposition}
    )
    with (
        hostile_server(script) as base,
        pytest.raises(LoadFailed, match="tries to leave the archive directory"),
    ):
        _load(base, data_dir, USERS)
    assert not (data_dir / "archive" / "users").exists()
    assert_inside(data_dir, tmp_path / "root")
    record("hostile inputs", f"Content-Disposition {disposition[22:50]!r}", "refused: UnsafeFileName")


@pytest.mark.parametrize("licensor", ["../etc", "a/b", "..", "acme/../../x", ".acme", "a\\b", "a\0b", ""])
def test_licensor_names_with_slashes_or_dots_are_refused_before_any_request(tmp_path, licensor):
    data_dir = tmp_path / "root" / "data"
    with pytest.raises(UnsafeName, match="invalid licensor"):
        safe_name(licensor, what="licensor")
    with pytest.raises(UsageError, match="invalid licensor"):
        parse_licensors(f"acme,{licensor}" if licensor else "acme,/")
    with pytest.raises(UnsafeName):
        Layout(data_dir).rejects_partition("streams", licensor, DAY)
    script = Script()
    with hostile_server(script) as base, pytest.raises(LoadFailed, match="invalid licensor") as failure:
        _load(base, data_dir, licensor=licensor)
    assert failure.value.permanent and script.requests == []
    assert_inside(data_dir, tmp_path / "root")
    record("hostile inputs", f"licensor {licensor!r}", "refused: 'invalid licensor', no request sent")


def _land(data_dir, report, lines: list[bytes], **options):
    path = Layout(data_dir).archive_partition(report.name, "acme", DAY) / "file.json.gz"
    path.parent.mkdir(parents=True)
    path.write_bytes(gzip.compress(b"\n".join(lines) + b"\n"))
    return land_partition(
        Layout(data_dir), report, "acme", DAY, [path], max_reject_share=1.0, options=LandingOptions(**options)
    )


def _reasons(result) -> list[str]:
    return [json.loads(line)["reason"] for line in result.rejects_path.read_text().splitlines()]


def test_a_bomb_in_the_archive_and_overlong_or_non_utf8_lines_at_landing(tmp_path):
    data_dir = tmp_path / "root" / "data"
    good = json.dumps(RECORD).encode()
    with pytest.raises(ArchiveTooLargeError, match="decompresses to more than 100,000 bytes"):
        _land(data_dir / "bomb", STREAMS, [good] * 5000, max_decompressed_bytes=100_000)
    assert not (data_dir / "bomb" / "lake").exists()
    non_utf8 = b'{"user_id": "\xff\xfe bad"}'
    lines = [good, b'{"user_id": "' + b"x" * 5000 + b'"}', good, non_utf8, good]
    result = _land(data_dir / "lines", STREAMS, lines, max_line_bytes=2048, block_bytes=4096)
    assert result.tables[0].rows == 3 and result.rejected == 2
    reasons = _reasons(result)
    assert reasons[0].startswith("line longer than 2,048 bytes")
    assert reasons[1] == f"invalid UTF-8 at byte {non_utf8.index(0xFF)}"
    assert [p.name for p in result.tables[0].path.parent.iterdir()] == [result.tables[0].path.name]
    assert_inside(data_dir, tmp_path / "root")
    for case, outcome in (
        ("gzip bomb in the archive (landing cap)", "refused: ArchiveTooLargeError, nothing published"),
        ("line of 5,000 bytes, 2,048 cap", "rejected: 'line longer than 2,048 bytes'"),
        ("non-UTF-8 bytes", f"rejected: {reasons[1]!r}"),
    ):
        record("hostile inputs", case, outcome)


TRACKS, AGGREGATED = report_by_name("tracks"), report_by_name("aggregated_streams")
SUB30_STREAMS = report_by_name("sub30_streams")
SUB30_RECORD = {**RECORD, "stream_length": 12_000}
USER = {"user_id": "u", "birth_year": 1990, "account_age_days": 30}
TRACK = {"track_id": "4uLU6hMCjMI75M1A2tKUQC", "duration_ms": 200_000}
AGG = {"trackv2": {"uri": "spotify:track:4uLU6hMCjMI75M1A2tKUQC"}, "listeners": 2, "streams": {"total": 3}}
ABSURD = [  # (report, plausible record, field, absurd value, reason)
    (
        STREAMS,
        RECORD,
        "stream_length",
        29_000,
        "field 'stream_length': 29000 is under 30000 ms: "
        "not a stream of 30 s or more (or lengths in seconds?)",
    ),
    (SUB30_STREAMS, SUB30_RECORD, "stream_length", -5, "field 'stream_length': -5 is negative"),
    (
        SUB30_STREAMS,
        SUB30_RECORD,
        "stream_length",
        30_000,
        "field 'stream_length': 30000 is 30000 ms or more: not a sub-30 stream",
    ),
    (
        USERS,
        USER,
        "birth_year",
        2031,
        "field 'birth_year': 2031 is in the future (the report is for 2026-06-12)",
    ),
    (USERS, USER, "birth_year", 1850, "field 'birth_year': 1850 is before 1900"),
    (USERS, USER, "account_age_days", -1, "field 'account_age_days': -1 is negative"),
    (TRACKS, TRACK, "duration_ms", 0, "field 'duration_ms': 0 is not positive"),
    (TRACKS, TRACK, "duration_ms", -3, "field 'duration_ms': -3 is not positive"),
    (AGGREGATED, AGG, "listeners", -2, "field 'listeners': -2 is negative"),
]


@pytest.mark.parametrize("slow_path", [False, True], ids=["fast-path", "slow-path"])
@pytest.mark.parametrize(
    ("report", "plausible", "field", "value", "reason"), ABSURD, ids=[a[4] for a in ABSURD]
)
def test_absurd_values_are_rejected_with_a_specific_reason(
    tmp_path, report, plausible, field, value, reason, slow_path
):
    lines = [json.dumps({**plausible, field: value}).encode(), json.dumps(plausible).encode()]
    if slow_path:
        lines.append(b"not json: sends the whole block to the line-by-line path")
    result = _land(tmp_path / "root" / "data", report, lines)
    assert _reasons(result)[0] == reason
    assert result.tables[0].rows == 1  # the plausible neighbour is kept
    assert_inside(tmp_path / "root" / "data", tmp_path / "root")
    if not slow_path:
        record("hostile inputs", f"absurd {field} = {value}", f"rejected: {reason!r}")
