"""Property-based tests (hypothesis): date windows, and the NDJSON parser on mixed good and bad lines.

The parser must never crash, never lose a valid line sitting next to an invalid one, reject each
invalid line with its exact line number, and land every valid record's values unchanged, on the
Arrow fast path and the line-by-line path alike.
"""

from __future__ import annotations

import itertools
import json
from datetime import UTC, date, datetime, timedelta, timezone

import pyarrow as pa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pipeline.dates import MAX_WINDOW_DAYS, DateWindow, DateWindowError, parse_day, resolve_window
from pipeline.ingest.landing.flat import FlatParser
from pipeline.ingest.landing.rules import bounds_for
from pipeline.reports import STREAMS

TODAY = st.dates(min_value=date(2000, 1, 1), max_value=date(2100, 1, 1))
DAY = date(2026, 6, 12)
QUICK = settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])


# -- date windows -----------------------------------------------------------------------------
@QUICK
@given(today=TODAY, back=st.integers(0, 3000), span=st.integers(0, 600))
def test_days_back_windows_are_inclusive_and_ordered(today, back, span):
    start, end = back + span, back
    window = resolve_window(start=str(start), end=f"today-{end}", clock=lambda: today)
    assert window == DateWindow(today - timedelta(days=start), today - timedelta(days=end))
    days = list(window)
    assert len(days) == len(window) == span + 1
    assert days[0] == window.start and days[-1] == window.end
    assert all(b - a == timedelta(days=1) for a, b in itertools.pairwise(days))


@QUICK
@given(today=TODAY, back=st.integers(0, 3000))
def test_every_spelling_of_one_day_agrees(today, back):
    day = today - timedelta(days=back)
    spellings = [str(back), f"today-{back}", f"TODAY - {back}", f" {back} ", day.isoformat()]
    if back == 0:
        spellings.append("today")
    if back == 1:
        spellings.append("yesterday")
    assert {parse_day(s, today=today) for s in spellings} == {day}
    assert resolve_window(date_value=spellings[0], clock=lambda: today) == DateWindow(day, day)


@QUICK
@given(today=TODAY, ahead=st.integers(1, 3000))
def test_future_dates_and_reversed_ranges_are_refused_clearly(today, ahead):
    future = today + timedelta(days=ahead)
    try:
        parse_day(future.isoformat(), today=today)
    except DateWindowError as exc:
        assert "in the future" in str(exc)
    else:
        raise AssertionError("a future date was accepted")
    try:
        resolve_window(start="1", end=str(1 + ahead), clock=lambda: today)
    except DateWindowError as exc:
        assert "is after the end" in str(exc)
    else:
        raise AssertionError("a reversed range was accepted")


@QUICK
@given(today=TODAY, start=st.text(max_size=20), end=st.one_of(st.none(), st.text(max_size=20)))
def test_arbitrary_input_gives_a_window_or_a_clear_error(today, start, end):
    try:
        window = resolve_window(start=start, end=end, clock=lambda: today)
    except DateWindowError as exc:
        assert str(exc)
    else:
        assert window.start <= window.end <= today
        assert len(window) <= MAX_WINDOW_DAYS


# -- the NDJSON parser ------------------------------------------------------------------------
_ZONES = st.sampled_from([UTC, timezone(timedelta(hours=2)), timezone(timedelta(hours=-5, minutes=-30))])
_TIMES = st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2099, 1, 1), timezones=_ZONES)
_TEXT = st.text(max_size=12)


@st.composite
def valid_records(draw: st.DrawFn) -> dict:
    """A streams record that must land: required fields present, well typed, plausible."""
    moment = draw(_TIMES)
    stamp = moment.isoformat()
    if moment.utcoffset() == timedelta(0) and draw(st.booleans()):
        stamp = stamp.replace("+00:00", "Z")
    record = {
        "timestamp": stamp,
        "user_id": draw(st.text(min_size=1, max_size=16)),
        "track_id": draw(
            st.text(alphabet="abcdefghijklmnopqrstuvwxyzABCDEFGHIJ0123456789", min_size=22, max_size=22)
        ),
        "country": draw(st.sampled_from(["US", "SE", "BR", "JP", "DE"])),
        "stream_length": draw(st.integers(30_000, 2**53)),  # streams: 30 s or more
    }
    optional = {
        "source": _TEXT,
        "region_code": st.one_of(st.none(), _TEXT),
        "cached": st.booleans(),
        "offline": st.booleans(),
        "isrc": _TEXT,
    }
    for name, strategy in optional.items():
        if draw(st.booleans()):
            record[name] = draw(strategy)
    return record


def _missing_or_wrong(record: dict, draw: st.DrawFn) -> dict:
    name = draw(st.sampled_from(sorted(STREAMS.required)))
    choice = draw(st.sampled_from(["drop", "null", "wrong", "negative"]))
    broken = dict(record)
    if choice == "drop":
        broken.pop(name)
    elif choice == "null":
        broken[name] = None
    elif choice == "negative":
        broken["stream_length"] = -draw(st.integers(1, 10**9))
    else:
        broken[name] = {"stream_length": "n/a", "timestamp": 12345}.get(name, {"nested": [1]})
    return broken


@st.composite
def invalid_lines(draw: st.DrawFn) -> bytes:
    """A non-blank line that must be rejected: not JSON, not an object, or a bad record."""
    kind = draw(st.sampled_from(["bytes", "json", "record"]))
    if kind == "record":
        return json.dumps(_missing_or_wrong(draw(valid_records()), draw)).encode()
    if kind == "json":
        value = draw(
            st.one_of(st.integers(), st.lists(st.integers(), max_size=3), st.text(max_size=5), st.none())
        )
        return json.dumps(value).encode()
    raw = draw(st.binary(min_size=1, max_size=40).filter(lambda b: b"\n" not in b))
    stripped = raw.replace(b"\xef\xbb\xbf", b"").strip()
    if not stripped or _is_object(raw):
        raw = b"{" + raw  # never blank, never an object
    return raw


def _is_object(raw: bytes) -> bool:
    try:
        return isinstance(json.loads(raw), dict)
    except (ValueError, RecursionError):
        return False


def _expected_time(stamp: str) -> datetime:
    return datetime.fromisoformat(stamp.replace("Z", "+00:00")).astimezone(UTC)


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    lines=st.lists(
        st.one_of(valid_records().map(lambda r: ("valid", r)), invalid_lines().map(lambda b: ("invalid", b))),
        min_size=1,
        max_size=25,
    ),
    blank_every=st.integers(0, 6),
    crlf=st.booleans(),
)
def test_parser_never_crashes_and_never_loses_a_valid_line(lines, blank_every, crlf):
    raw_lines: list[bytes] = []
    expected_valid, expected_rejects = [], []
    for kind, item in lines:
        if blank_every and len(raw_lines) % blank_every == blank_every - 1:
            raw_lines.append(b"   ")  # blank lines count for numbering only
        raw = json.dumps(item, ensure_ascii=False).encode() if kind == "valid" else item
        raw_lines.append(raw + (b"\r" if crlf else b""))
        (expected_valid if kind == "valid" else expected_rejects).append((len(raw_lines), item))
    block = b"\n".join(raw_lines) + b"\n"
    parser = FlatParser(STREAMS, max_line_bytes=1 << 20, bounds=bounds_for(STREAMS, DAY))
    parsed = parser.parse(block, parser.prepare(block), 1, "archive/x.gz")
    rows = parsed.tables[STREAMS.name].to_pylist()
    assert parsed.lines == len(raw_lines)
    assert parsed.records == len(expected_valid) + len(expected_rejects)
    assert [r.line for r in parsed.rejects] == [line for line, _ in expected_rejects]
    assert all(r.reason and r.source_file == "archive/x.gz" for r in parsed.rejects)
    assert len(rows) == len(expected_valid)
    for row, (_, record) in zip(rows, expected_valid, strict=True):
        assert row["user_id"] == record["user_id"] and row["track_id"] == record["track_id"]
        assert row["stream_length"] == record["stream_length"] and row["country"] == record["country"]
        assert row["timestamp"] == _expected_time(record["timestamp"])
        for name in ("source", "region_code", "cached", "offline", "isrc"):
            assert row[name] == record.get(name)
    assert parsed.tables[STREAMS.name].schema.equals(
        pa.schema([*STREAMS.fields, pa.field("_extra", pa.string())])
    )
