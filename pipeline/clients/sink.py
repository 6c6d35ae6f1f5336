"""One download's bytes on their way to a temporary file: written, hashed and proven a complete,
bounded gzip, on a worker thread, so the event loop only moves bytes off the socket.

The proof can be deferred (`GzipCheck(whole=False)`): the download then inflates only its first
output step (enough to tell a file with data from an empty one), and whoever reads the
file next proves it whole before it is archived (`pipeline/ingest/load.py`: landing's own inflate),
or `check_file` does, so a day's bytes are inflated once instead of twice."""

from __future__ import annotations

import asyncio
import concurrent.futures
import hashlib
import os
from pathlib import Path

from pipeline.clients.http import ApiError, RetryableError, url_path
from pipeline.storage.gzip_stream import GZIP_OR_ZLIB, CorruptGzip, GzipStream, IncompleteGzip

# Decompressed bytes produced per step, so a bomb never fills memory. Each step drops the GIL a
# few times (its output buffer grows from 16 KiB), so few large steps contend least with the loop.
_INFLATE_STEP = 4 << 20
_READ_CHUNK = 1 << 20  # a file checked from disk is fed as a download is: ~1 MB at a time


class DownloadTooLarge(ApiError):
    """The file decompresses past the configured cap (a gzip bomb or a misconfigured cap)."""


class GzipCheck:
    """Inflates a gzip stream chunk by chunk, discarding output, to prove it is complete and bounded.

    With `whole=False` it stops after the first step that produced data: `decompressed == 0` after `finish`
    still means "no data" exactly (a stream is only cut short once it has produced something).
    """

    def __init__(self, method: str, url: str, cap: int, *, whole: bool = True) -> None:
        self.method, self.url, self.cap, self.whole = method, url, cap, whole
        self.decompressed = 0
        self._stream = GzipStream(wbits=GZIP_OR_ZLIB, step=_INFLATE_STEP)

    @property
    def done(self) -> bool:
        """Nothing more to check: a deferred check has seen data."""
        return not self.whole and self.decompressed > 0

    def feed(self, data: bytes) -> None:
        if self.done:
            return
        try:
            for out in self._stream.feed(data):
                self._count(out)
                if self.done:
                    return
        except CorruptGzip as exc:
            raise RetryableError(f"corrupt gzip stream ({exc})") from None

    def _count(self, out: bytes) -> None:
        self.decompressed += len(out)
        if self.decompressed > self.cap:
            raise DownloadTooLarge(
                f"{self.method} {url_path(self.url)}: the file decompresses to more than "
                f"{self.cap:,} bytes (possible gzip bomb); raise max_decompressed_bytes if it is genuine"
            )

    def finish(self) -> None:
        if self.done:
            return
        try:
            self._count(self._stream.finish())
        except CorruptGzip as exc:
            raise RetryableError(f"corrupt gzip stream ({exc})") from None
        except IncompleteGzip:
            raise RetryableError(
                "incomplete gzip stream (the body ended before the end of the gzip data)"
            ) from None


class Sink:
    """One download's bytes on their way to a temporary file: written, hashed and gzip-checked.

    `feed` and `finish` run on a worker thread, one call at a time and in order (the download
    awaits each before handing over the next); `discard` runs on the event loop once none is running.
    """

    def __init__(self, path: Path, check: GzipCheck) -> None:
        self.path, self.check = path, check
        self.digest, self.size = hashlib.sha256(), 0
        self._fh = open(path, "wb")  # noqa: SIM115 - closed by finish() or discard()

    def feed(self, pieces: list[bytes]) -> None:
        # One copy to make one write, one hash update and few inflate steps: each call releases and
        # retakes the GIL, and handing the GIL back and forth with the event loop is what costs.
        data = b"".join(pieces) if len(pieces) > 1 else pieces[0]
        self._fh.write(data)
        self.digest.update(data)
        self.size += len(data)
        self.check.feed(data)

    def finish(self) -> None:
        """Prove the gzip complete, then make the file durable and close it."""
        self.check.finish()
        self._fh.flush()
        os.fsync(self._fh.fileno())
        self._fh.close()

    def discard(self) -> None:
        self._fh.close()
        self.path.unlink(missing_ok=True)


def check_file(path: Path, check: GzipCheck) -> None:
    """Prove a file on disk a complete, bounded gzip (`check`'s errors): the deferred check."""
    with open(path, "rb") as fh:
        while data := fh.read(_READ_CHUNK):
            check.feed(data)
    check.finish()


Job = concurrent.futures.Future[None]


async def settle(job: Job) -> None:
    """Wait until a worker job has stopped: it cannot be interrupted, and nothing may touch the
    file once the download has cleaned up (a cancellation meanwhile is passed on afterwards)."""
    if job.cancel() or job.done():
        return
    waiter = asyncio.wrap_future(job)
    interrupted = False
    while not waiter.done():
        try:
            await asyncio.wait([waiter])
        except asyncio.CancelledError:
            interrupted = True
    if not waiter.cancelled():
        waiter.exception()  # retrieved: the download is already failing with its own error
    if interrupted:
        raise asyncio.CancelledError
