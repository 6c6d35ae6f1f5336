"""Stream a gzip NDJSON archive as blocks of whole lines, with memory bounded by the block size.

Decompression (`pipeline.storage.gzip_stream`, ISA-L) runs in a background thread (it releases the GIL)
so it overlaps with parsing; a small queue keeps at most a few blocks in flight whatever the file
size. Blocks hold whole lines, so a consumer can number lines exactly (1-based, blank lines included).
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from pipeline.ingest.landing.errors import ArchiveTooLargeError, CorruptArchiveError
from pipeline.storage.gzip_stream import GZIP, CorruptGzip, GzipStream, IncompleteGzip

RAW_HEAD_BYTES = 2048  # bytes of an overlong line kept for its reject record
_IN_CHUNK = 1 << 20
_OUT_CHUNK = 4 << 20


@dataclass(frozen=True)
class OverlongLine:
    """A line longer than the limit; only its head was kept, the rest was skipped unread."""

    head: bytes
    length: int


# A block of whole lines (ending with a newline unless it holds the file's unterminated last line),
# or one overlong line. Line numbers are assigned by the consumer, which knows each block's count.
Item = bytes | OverlongLine


def inflate(path: Path, *, max_decompressed_bytes: int) -> Iterator[bytes]:
    """Decompress a (possibly multi-member) gzip file in bounded chunks; raise on truncation."""
    stream, total = GzipStream(wbits=GZIP, step=_OUT_CHUNK), 0

    def counted(out: bytes) -> bytes:
        nonlocal total
        total += len(out)
        if total > max_decompressed_bytes:
            raise ArchiveTooLargeError(path, max_decompressed_bytes)
        return out

    with open(path, "rb") as fh:
        try:
            while raw := fh.read(_IN_CHUNK):
                for out in stream.feed(raw):
                    yield counted(out)
            if tail := counted(stream.finish()):
                yield tail
        except CorruptGzip as exc:
            raise CorruptArchiveError(path, str(exc)) from exc
        except IncompleteGzip:
            raise CorruptArchiveError(path, "unexpected end of file (truncated gzip stream)") from None


# A piece of a decompressed chunk not yet handed out: (chunk, start, end). Blocks are joined
# straight from these, so each byte is copied once (a join of the whole buffer, then a slice of
# each block, copied every byte twice and faulted in twice the pages).
_Piece = tuple[bytes, int, int]


def _last_newline(pieces: list[_Piece], limit: int) -> int:
    """One past the last newline within the first `limit` bytes of `pieces` (0: none there)."""
    offset = found = 0
    for data, start, end in pieces:
        if offset >= limit:
            break
        at = data.rfind(b"\n", start, min(end, start + limit - offset))
        if at >= 0:
            found = offset + at - start + 1
        offset += end - start
    return found


def _first_newline(pieces: list[_Piece], after: int) -> int:
    """One past the first newline at or after offset `after` of `pieces` (0: none)."""
    offset = 0
    for data, start, end in pieces:
        if offset + end - start > after:
            at = data.find(b"\n", start + max(after - offset, 0), end)
            if at >= 0:
                return offset + at - start + 1
        offset += end - start
    return 0


def _split(pieces: list[_Piece], cut: int) -> tuple[bytes, list[_Piece]]:
    """The first `cut` bytes of `pieces` as one bytes object (one copy; none for a whole chunk),
    and the pieces of the rest."""
    head: list[memoryview] = []
    offset = 0
    for index, (data, start, end) in enumerate(pieces):
        if offset + end - start >= cut:
            middle = start + cut - offset
            rest = ([(data, middle, end)] if middle < end else []) + pieces[index + 1 :]
            if not head and start == 0 and middle == len(data):
                return data, rest
            head.append(memoryview(data)[start:middle])
            return b"".join(head), rest
        head.append(memoryview(data)[start:end])
        offset += end - start
    return b"".join(head), []


def cut_lines(chunks: Iterator[bytes], *, block_bytes: int, max_line_bytes: int) -> Iterator[Item]:
    """Regroup decompressed chunks into blocks of whole lines of about `block_bytes` (more only
    for a single longer line); skip the rest of any line past `max_line_bytes`."""
    pending: list[_Piece] = []
    size = 0
    overlong: OverlongLine | None = None
    for chunk in chunks:
        begin = 0
        if overlong is not None:
            end = chunk.find(b"\n")
            if end < 0:
                overlong = OverlongLine(overlong.head, overlong.length + len(chunk))
                continue
            yield OverlongLine(overlong.head, overlong.length + end)
            overlong, begin = None, end + 1
        if begin == len(chunk):
            continue
        pending.append((chunk, begin, len(chunk)))
        size += len(chunk) - begin
        waiting_for_newline = len(pending) > 1 and chunk.find(b"\n", begin) < 0
        if size < block_bytes or (waiting_for_newline and size <= max_line_bytes):
            continue
        while size >= block_bytes:
            cut = _last_newline(pending, block_bytes) or _first_newline(pending, block_bytes)
            if not cut:
                break  # one unterminated line from here on
            block, pending = _split(pending, cut)
            size -= cut
            yield block
        whole = _last_newline(pending, size)
        if size - whole > max_line_bytes:  # the unterminated last line is already too long
            if whole:
                block, pending = _split(pending, whole)
                yield block
            head = _split(pending, min(RAW_HEAD_BYTES, size - whole))[0]
            overlong, pending, size = OverlongLine(head, size - whole), [], 0
    if overlong is not None:
        yield overlong
    elif size:
        yield _split(pending, size)[0]


_DONE = object()


def read_blocks(
    path: Path, *, block_bytes: int, max_line_bytes: int, max_decompressed_bytes: int, read_ahead: int = 2
) -> Iterator[Item]:
    """`cut_lines(inflate(path))`, run in a background thread a few blocks ahead of the caller."""
    slots: queue.Queue[object] = queue.Queue(maxsize=read_ahead)
    stop = threading.Event()

    def put(item: object) -> bool:
        while not stop.is_set():
            try:
                slots.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def produce() -> None:
        try:
            chunks = inflate(path, max_decompressed_bytes=max_decompressed_bytes)
            for item in cut_lines(chunks, block_bytes=block_bytes, max_line_bytes=max_line_bytes):
                if not put(item):
                    return
            put(_DONE)
        except BaseException as exc:  # handed to the consumer, which re-raises it
            put(exc)

    worker = threading.Thread(target=produce, name=f"inflate-{path.name}", daemon=True)
    worker.start()
    try:
        while (item := slots.get()) is not _DONE:
            if isinstance(item, BaseException):
                raise item
            yield item  # type: ignore[misc]
    finally:
        stop.set()
        worker.join()
