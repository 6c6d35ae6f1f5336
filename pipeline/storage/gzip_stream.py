"""Inflate a gzip stream pushed in pieces, member after member, in bounded output steps.

One loop for the two places that inflate archives: the download's integrity check
(`bulk_api.py`) and landing's reader (`landing/reader.py`). Each maps the errors to its own.
Inflating uses ISA-L behind zlib's API: ~3x zlib's speed, and inflating is the floor of both
a download's and a landing's CPU cost. Concatenated gzip members are one valid stream.
"""

from __future__ import annotations

from collections.abc import Iterator

from isal import isal_zlib

GZIP = 16 + isal_zlib.MAX_WBITS
GZIP_OR_ZLIB = 32 + isal_zlib.MAX_WBITS  # the header is detected
CorruptGzip = isal_zlib.error


class IncompleteGzip(ValueError):
    """The stream stopped inside a gzip member (a truncated file or body)."""


class GzipStream:
    """`feed` bytes as they come, take the output it yields (at most `step` bytes at a time, so
    a bomb never fills memory), then `finish`. Both raise `CorruptGzip` on invalid data."""

    def __init__(self, *, wbits: int = GZIP, step: int = 4 << 20) -> None:
        self._wbits, self._step = wbits, step
        self._inflater: isal_zlib.Decompress | None = None  # None between members

    def feed(self, data: bytes) -> Iterator[bytes]:
        while data:
            if self._inflater is None:
                self._inflater = isal_zlib.decompressobj(self._wbits)
            out = self._inflater.decompress(data, self._step)
            if out:
                yield out
            if self._inflater.eof:  # check first: at a member's end both tails hold the rest
                data, self._inflater = self._inflater.unused_data, None  # next member, if any
            else:
                data = self._inflater.unconsumed_tail  # output step reached, or b"" when all consumed

    def finish(self) -> bytes:
        """The last output; raises IncompleteGzip when the stream ended inside a member."""
        if self._inflater is None:
            return b""
        tail = self._inflater.flush()
        if not self._inflater.eof:
            raise IncompleteGzip("the stream ended inside a gzip member")
        return tail
