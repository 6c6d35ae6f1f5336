"""Reading archives: exact block cutting, multi-member gzip, truncation and the decompression cap."""

from __future__ import annotations

import gzip
import random

import pytest

from pipeline.ingest.landing import (
    ArchiveTooLargeError,
    CorruptArchiveError,
    LandingOptions,
    land_partition,
    reader,
)
from pipeline.ingest.landing.reader import OverlongLine, cut_lines, read_blocks
from pipeline.reports import report_by_name
from tests.kits.fake_lake import partition_rows
from tests.kits.ndjson import stream_records

from .conftest import DAY, LICENSOR, LOADED_AT


def _chunked(data: bytes, rng: random.Random):
    position = 0
    while position < len(data):
        step = rng.randint(1, 700)
        yield data[position : position + step]
        position += step


@pytest.mark.parametrize("seed", range(5))
def test_cut_lines_keeps_every_byte_in_whole_lines(seed):
    rng = random.Random(seed)
    lines = [b"x" * rng.randint(0, 300) for _ in range(400)]
    data = b"\n".join(lines) + (b"\n" if seed % 2 else b"")
    items = list(cut_lines(_chunked(data, rng), block_bytes=512, max_line_bytes=10_000))
    assert all(isinstance(item, bytes) for item in items)
    assert b"".join(items) == data
    assert all(item.endswith(b"\n") for item in items[:-1])
    assert max(len(item) for item in items) < 512 + 300


def test_cut_lines_skips_overlong_lines_without_holding_them():
    data = b"a\n" + b"y" * 50_000 + b"\nb\nc"
    items = list(cut_lines(_chunked(data, random.Random(1)), block_bytes=64, max_line_bytes=1000))
    overlong = [item for item in items if isinstance(item, OverlongLine)]
    assert len(overlong) == 1 and overlong[0].length == 50_000 and overlong[0].head.startswith(b"yyy")
    assert b"".join(item for item in items if isinstance(item, bytes)) == b"a\nb\nc"


@pytest.mark.parametrize(("in_chunk", "out_chunk"), [(1 << 20, 4 << 20), (1000, 777), (64, 1 << 20)])
def test_multi_member_gzip_reads_whole(tmp_path, monkeypatch, in_chunk, out_chunk):
    monkeypatch.setattr(reader, "_IN_CHUNK", in_chunk)  # member ends inside a capped call, etc.
    monkeypatch.setattr(reader, "_OUT_CHUNK", out_chunk)
    members = [b"".join(b"%d\n" % i for i in range(start, start + 3000)) for start in (0, 3000, 6000)]
    path = tmp_path / "multi.gz"
    path.write_bytes(gzip.compress(members[0]) + gzip.compress(b"") + gzip.compress(members[1] + members[2]))
    chunks = list(reader.inflate(path, max_decompressed_bytes=1 << 30))
    assert b"".join(chunks) == b"".join(members)
    assert max(map(len, chunks)) <= out_chunk
    blocks = read_blocks(path, block_bytes=4096, max_line_bytes=1 << 20, max_decompressed_bytes=1 << 30)
    assert b"".join(blocks) == b"".join(members)


def _land(layout, files, **kwargs):
    return land_partition(
        layout, report_by_name("streams"), LICENSOR, DAY, files, loaded_at=LOADED_AT, **kwargs
    )


@pytest.mark.parametrize("cut", ["truncated", "garbage"])
def test_corrupt_archive_raises_and_publishes_nothing(layout, archive, cut):
    good = archive("streams", "DE.gz", stream_records(100, seed=2))
    path = archive("streams", "US.gz", stream_records(2000))
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2] if cut == "truncated" else data[:100] + b"\x00" * 50 + data[150:])
    with pytest.raises(CorruptArchiveError) as failure:
        _land(layout, [good, path])
    assert failure.value.path == path and str(path) in str(failure.value)
    assert partition_rows(layout, "streams", LICENSOR, DAY) is None
    assert not (layout.rejects_partition("streams", LICENSOR, DAY) / "rejects.jsonl").exists()


def test_not_gzip_at_all_is_corrupt(layout, archive):
    path = layout.archive_partition("streams", LICENSOR, DAY) / "US.gz"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b'{"plain": "json, not gzip"}\n')
    with pytest.raises(CorruptArchiveError, match=r"US\.gz"):
        _land(layout, [path])


def test_decompression_cap(layout, archive):
    path = archive("streams", "US.gz", stream_records(500))
    with pytest.raises(ArchiveTooLargeError, match="max_decompressed_bytes"):
        _land(layout, [path], options=LandingOptions(max_decompressed_bytes=10_000))
    assert partition_rows(layout, "streams", LICENSOR, DAY) is None
