"""The fast path's one-record-per-line invariant, proven by corrupting clean blocks at random.

Each case takes a clean streams block (declared fields, aliases, "Y"/"N" flags, undeclared fields
with big numbers, timestamps and nested objects), corrupts it (truncated lines, lines spliced
together or split, duplicated braces, stray bytes, invalid UTF-8, NUL, overlong lines, CRLF mixes,
a record cut after a key followed by one with a stray `}`) and parses it twice: Arrow's fast path
(when `prepare` trusts the block) and the line-by-line path. Both must accept the same rows (every
value, `_extra` byte for byte) and reject the same line numbers with the same reasons. The
line-by-line path reads each line alone, so agreement means no two lines were ever merged into one
accepted row. The default suite runs a bounded number of cases; the slow suite runs 10,000.
"""

from __future__ import annotations

import json
import random

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from pipeline.ingest.landing.flat import FlatParser
from pipeline.ingest.landing.rules import bounds_for
from pipeline.reports import STREAMS
from tests.kits.ndjson import dumps, stream_records

from .conftest import DAY

MAX_LINE = 4096
SOURCE = "archive/streams/US.gz"
EXTRAS = (
    ("big", "12345678901234567890"),
    ("at", '"2026-06-10T10:00:00Z"'),
    ("nested", '{"at": "2026-06-10T10:00:00Z", "n": [1, 2.50, null]}'),
    ("device_class", '"tv"'),
    ("ratio", "1.0e-3"),
)


def _clean_lines(seed: int, rows: int) -> list[bytes]:
    """A clean block's lines: some with undeclared fields (as raw JSON text), aliases and Y/N flags."""
    rng = random.Random(seed)
    lines = []
    for record in stream_records(rows, seed=seed):
        if rng.random() < 0.3:
            record["completion_flag"] = "Y" if record.pop("completion") else "N"
        text = dumps(record)
        extras = [f'"{name}":{value}' for name, value in EXTRAS if rng.random() < 0.25]
        if extras:
            text = text[:-1] + "," + ",".join(extras) + "}"
        lines.append(text.encode())
    return lines


def _corrupt(rng: random.Random, lines: list[bytes], ops: int) -> bytes:
    """The block with `ops` random corruptions applied."""
    lines = list(lines)
    for _ in range(ops):
        i = rng.randrange(len(lines))
        line = lines[i]
        at = rng.randrange(len(line) + 1)
        kind = rng.choice(  # the lossless ones (crlf, duplicate) keep some blocks on the fast path
            (
                "truncate",
                "cut_after_key",
                "splice",
                "split",
                "brace",
                "stray",
                "utf8",
                "nul",
                "long",
                "crlf",
                "blank",
                "duplicate",
            )
        )
        event(kind)
        if kind == "truncate":
            lines[i] = line[:at]
        elif kind == "cut_after_key":  # `{..., "key":` then the next line gains a stray `}`
            key_end = line.rfind(b'":', 0, max(at, 2))
            lines[i] = line[: key_end + 2] if key_end > 0 else line[:at]
            if i + 1 < len(lines):
                lines[i + 1] += b"}"
        elif kind == "splice" and i + 1 < len(lines):
            lines[i : i + 2] = [line[:at] + lines[i + 1][rng.randrange(len(lines[i + 1]) + 1) :]]
        elif kind == "split":
            lines[i : i + 1] = [line[:at], line[at:]]
        elif kind == "brace":
            lines[i] = line[:at] + rng.choice((b"{", b"}", b"}}", b"{{", b"}\n{", b"} {")) + line[at:]
        elif kind == "stray":
            lines[i] = line[:at] + bytes(rng.randrange(256) for _ in range(rng.randint(1, 4))) + line[at:]
        elif kind == "utf8":
            lines[i] = line[:at] + rng.choice((b"\xff", b"\xc3", b"\xed\xa0\x80", b"\xe2\x82")) + line[at:]
        elif kind == "nul":
            lines[i] = line[:at] + b"\x00" + line[at:]
        elif kind == "long":
            pad = b'"pad":"' + b"x" * rng.choice((MAX_LINE // 2, MAX_LINE, 2 * MAX_LINE)) + b'",'
            lines[i] = line[:1] + pad + line[1:]
        elif kind == "crlf":
            lines[i] = line + b"\r"
        elif kind == "blank":
            lines.insert(i, rng.choice((b"", b"  ", b"\r", b"null")))
        elif kind == "duplicate":
            lines.insert(i, line)
    block = b"\n".join(lines)
    return block if rng.random() < 0.2 else block + b"\n"


def _parse(block: bytes, *, fast: bool) -> tuple[list[dict], list[tuple[int, str]], int, int, bool]:
    parser = FlatParser(STREAMS, max_line_bytes=MAX_LINE, bounds=bounds_for(STREAMS, DAY))
    prepared = parser.prepare(block) if fast else None
    parsed = parser.parse(block, prepared, 1, SOURCE)
    rows = parsed.tables[STREAMS.name].to_pylist()
    rejects = [(r.line, r.reason) for r in parsed.rejects]
    return rows, rejects, parsed.lines, parsed.records, prepared is not None


def _check(seed: int, rows: int, ops: int) -> bool:
    """Both paths agree on the corrupted block; whether the fast path was taken."""
    rng = random.Random(seed)
    block = _corrupt(rng, _clean_lines(seed, rows), ops)
    fast_rows, fast_rejects, fast_lines, fast_records, took_fast = _parse(block, fast=True)
    slow_rows, slow_rejects, slow_lines, slow_records, _ = _parse(block, fast=False)
    assert (fast_lines, fast_records) == (slow_lines, slow_records)
    assert fast_rejects == slow_rejects
    assert fast_rows == slow_rows
    return took_fast


CASE = given(seed=st.integers(0, 2**32), rows=st.integers(1, 40), ops=st.integers(0, 4))


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@CASE
def test_fast_and_slow_paths_agree_on_corrupted_blocks(seed, rows, ops):
    event("fast path" if _check(seed, rows, ops) else "slow path")


@pytest.mark.slow
@settings(max_examples=10_000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@CASE
def test_fast_and_slow_paths_agree_on_10000_corrupted_blocks(seed, rows, ops):
    event("fast path" if _check(seed, rows, ops) else "slow path")


def test_clean_blocks_take_the_fast_path_and_keep_drift_as_sent():
    """Not vacuous: clean blocks (drift, aliases, Y/N flags and all) are trusted to Arrow."""
    assert all(_check(seed, 30, 0) for seed in range(20))
    lines = _clean_lines(1, 200)
    parser = FlatParser(STREAMS, max_line_bytes=MAX_LINE, bounds=bounds_for(STREAMS, DAY))
    block = b"\n".join(lines) + b"\n"
    prepared = parser.prepare(block)
    assert prepared is not None
    rows = parser.parse(block, prepared, 1, SOURCE).tables[STREAMS.name].to_pylist()
    for line, row in zip(lines, rows, strict=True):
        sent = [f'"{name}":{value}' for name, value in EXTRAS if f'"{name}":{value}'.encode() in line]
        assert row["_extra"] == ("{" + ",".join(sent) + "}" if sent else None)
        assert row["completion"] is not None


def test_a_record_cut_after_a_key_never_swallows_the_next_line():
    """The reproduction: Arrow alone merges these two lines into one row with the second in `x`."""
    first, second = (dumps(r).encode() for r in stream_records(2))
    block = first[:-1] + b',"x":\n' + second + b"}\n"
    parser = FlatParser(STREAMS, max_line_bytes=MAX_LINE, bounds=bounds_for(STREAMS, DAY))
    assert parser.prepare(block) is None  # rows (1) != lines (2): the block goes line by line
    parsed = parser.parse(block, None, 1, SOURCE)
    assert parsed.tables[STREAMS.name].num_rows == 0
    assert [r.line for r in parsed.rejects] == [1, 2]
    assert json.loads(second)  # the second line alone is fine: only its stray brace rejects it
