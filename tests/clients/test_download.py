"""Downloads: streamed to disk with sha256 and size, gzip proven complete, bombs and bad names refused."""

from __future__ import annotations

import asyncio
import gzip
import hashlib
import os
import random
import threading
from pathlib import Path

import httpx
import pytest

from pipeline.clients import bulk_api
from pipeline.clients.bulk_api import DownloadTooLarge, RemoteFile, UnsafeFileName
from pipeline.clients.http import ApiStatusError, RetriesExhausted
from pipeline.clients.sink import Sink
from tests.kits.fake_api import BrokenStream, respond

URI = "/acme/enhanced/streams/2026/11/20/US"
FILE = RemoteFile(URI, "US", "streams_2026-11-20_US.json.gz")
LINES = b"".join(b'{"user_id": "u%d", "track_id": "t%d"}\n' % (i, i % 97) for i in range(5000))
GZ = gzip.compress(LINES, mtime=0)


def download(make_client, dest: Path, file: RemoteFile = FILE, **options):
    async def main():
        async with make_client(**options) as client:
            return await client.download(file, dest)

    return asyncio.run(main())


def test_download_streams_the_raw_gzip_with_sha256_and_size(api, make_client, tmp_path):
    api.route(URI, respond(200, GZ, headers={"Content-Type": "application/gzip"}))
    result = download(make_client, tmp_path)
    assert result.path == tmp_path / "streams_2026-11-20_US.json.gz"
    assert result.path.read_bytes() == GZ
    assert (result.bytes, result.sha256) == (len(GZ), hashlib.sha256(GZ).hexdigest())
    assert result.remote == FILE
    assert os.listdir(tmp_path) == [result.name]
    (request,) = api.requests
    assert request.headers["accept-encoding"] == "identity"
    assert request.headers["authorization"] == "Bearer token-1"


def test_content_encoding_gzip_is_kept_as_the_gzip_file(api, make_client, tmp_path):
    api.route(
        URI, respond(200, GZ, headers={"Content-Encoding": "gzip", "Content-Type": "application/x-ndjson"})
    )
    result = download(make_client, tmp_path)
    assert result.path.read_bytes() == GZ  # not decoded by httpx
    assert gzip.decompress(result.path.read_bytes()) == LINES


def test_concatenated_gzip_members_are_valid(api, make_client, tmp_path):
    two_members = gzip.compress(b'{"a": 1}\n') + gzip.compress(b'{"a": 2}\n')
    api.route(URI, respond(200, two_members))
    result = download(make_client, tmp_path)
    assert (result.bytes, result.path.read_bytes()) == (len(two_members), two_members)


def test_an_empty_body_is_an_empty_file(api, make_client, tmp_path):
    api.route(URI, respond(200, b""))
    result = download(make_client, tmp_path)
    assert (result.bytes, result.path.read_bytes()) == (0, b"")


def test_truncated_gzip_is_retried_then_fails_clearly(api, make_client, tmp_path, sleeps):
    api.route(URI, respond(200, GZ[: len(GZ) // 2]))
    with pytest.raises(RetriesExhausted) as info:
        download(make_client, tmp_path)
    assert str(info.value) == (
        f"GET /v1/analytics{URI} failed after 3 attempt(s): last error: "
        "incomplete gzip stream (the body ended before the end of the gzip data)"
    )
    assert len(api.requests) == 3
    assert sleeps == [1.0, 2.0]
    assert os.listdir(tmp_path) == []  # no partial file left behind


def test_truncated_gzip_then_a_good_body_succeeds(api, make_client, tmp_path, sleeps):
    api.route(URI, respond(200, GZ[:-9]), respond(200, GZ))
    result = download(make_client, tmp_path)
    assert result.path.read_bytes() == GZ
    assert os.listdir(tmp_path) == [result.name]
    assert sleeps == [1.0]


def test_connection_reset_mid_body_restarts_the_download_from_scratch(api, make_client, tmp_path):
    cut = len(GZ) // 3
    api.route(
        URI,
        respond(200, stream=lambda: BrokenStream(GZ[:cut], httpx.ReadError("connection reset by peer"))),
        respond(200, stream=lambda: BrokenStream(GZ[:cut], httpx.RemoteProtocolError("incomplete body"))),
        respond(200, GZ),
    )
    result = download(make_client, tmp_path)
    assert result.path.read_bytes() == GZ  # not the partial attempts appended together
    assert result.bytes == len(GZ)
    assert len(api.requests) == 3


def test_corrupt_gzip_is_retried_then_fails(api, make_client, tmp_path):
    api.route(URI, respond(200, b"this is plain text, not gzip\n" * 10))
    with pytest.raises(RetriesExhausted, match=r"last error: corrupt gzip stream"):
        download(make_client, tmp_path)
    assert os.listdir(tmp_path) == []


def test_gzip_bomb_is_stopped_at_the_decompressed_cap_without_retrying(api, make_client, tmp_path, sleeps):
    bomb = gzip.compress(b"\0" * (8 << 20))  # 8 MiB of zeros in a few KiB
    assert len(bomb) < 64 * 1024
    api.route(URI, respond(200, bomb))
    with pytest.raises(DownloadTooLarge) as info:
        download(make_client, tmp_path, max_decompressed_bytes=1 << 20)
    assert "decompresses to more than 1,048,576 bytes (possible gzip bomb)" in str(info.value)
    assert len(api.requests) == 1
    assert sleeps == []
    assert os.listdir(tmp_path) == []


def test_file_that_fits_the_cap_exactly_is_accepted(api, make_client, tmp_path):
    api.route(URI, respond(200, GZ))
    assert download(make_client, tmp_path, max_decompressed_bytes=len(LINES)).bytes == len(GZ)


@pytest.mark.parametrize(
    ("disposition", "name"),
    [
        ('attachment; filename="acme_streams_US_20261120.json.gz"', "acme_streams_US_20261120.json.gz"),
        ("attachment; filename=US.ndjson", "US.ndjson.gz"),
        ('attachment; filename="streams 2026-11-20 (US).json.gz"', "streams_2026-11-20_US_.json.gz"),
        ("attachment; filename*=UTF-8''str%C3%A9ams.gz", "str_ams.gz"),
        ('attachment; filename=".hidden.gz"', "hidden.gz"),
        ('attachment; filename="%%%"', "streams_2026-11-20_US.json.gz"),
        ("attachment", "streams_2026-11-20_US.json.gz"),
        ('attachment; filename="' + "x" * 300 + '.json.gz"', "x" * 125 + ".gz"),
    ],
)
def test_content_disposition_names_are_sanitized(api, make_client, tmp_path, disposition, name):
    api.route(URI, respond(200, GZ, headers={"Content-Disposition": disposition}))
    result = download(make_client, tmp_path)
    assert result.name == name
    assert result.path == tmp_path / name
    assert result.name.endswith(".gz")


@pytest.mark.parametrize(
    "disposition",
    [
        'attachment; filename="../../etc/cron.d/evil.gz"',
        "attachment; filename*=UTF-8''..%2F..%2Fevil.gz",
        'attachment; filename="..\\\\evil.gz"',
        'attachment; filename="/abs/evil.gz"',
        'attachment; filename=".."',
    ],
)
def test_content_disposition_traversal_is_rejected(api, make_client, tmp_path, disposition, sleeps):
    api.route(URI, respond(200, GZ, headers={"Content-Disposition": disposition}))
    with pytest.raises(UnsafeFileName, match="tries to leave the archive directory"):
        download(make_client, tmp_path)
    assert os.listdir(tmp_path) == []
    assert not (tmp_path.parent / "evil.gz").exists()
    assert sleeps == []


def test_same_disposition_name_twice_falls_back_to_the_suggested_name(api, make_client, tmp_path):
    api.route(URI, respond(200, GZ, headers={"Content-Disposition": 'attachment; filename="data.json.gz"'}))
    (tmp_path / "data.json.gz").write_bytes(b"another country's file")
    result = download(make_client, tmp_path)
    assert result.name == "streams_2026-11-20_US.json.gz"
    assert (tmp_path / "data.json.gz").read_bytes() == b"another country's file"


def test_a_listed_file_answering_404_is_retried_then_fails_naming_it(api, make_client, tmp_path, sleeps):
    with pytest.raises(RetriesExhausted) as info:
        download(make_client, tmp_path)
    assert str(info.value) == (
        f"GET /v1/analytics{URI} failed after 3 attempt(s): "
        "last error: status 404 Not Found (a file named in its listing)"
    )
    assert len(api.requests) == 3 and len(sleeps) == 2


def test_a_listed_file_answering_404_once_is_downloaded(api, make_client, tmp_path):
    api.route(URI, respond(404), respond(200, GZ))
    assert download(make_client, tmp_path).path.read_bytes() == GZ


def test_download_with_expired_token_refreshes_once(api, make_client, tmp_path):
    def expire(request: httpx.Request) -> httpx.Response:
        api.revoke_all()
        return httpx.Response(401)

    api.route(URI, expire, respond(200, GZ))
    result = download(make_client, tmp_path)
    assert result.path.read_bytes() == GZ
    assert [r.headers["authorization"] for r in api.requests] == ["Bearer token-1", "Bearer token-2"]


def test_download_5xx_and_429_are_retried(api, make_client, tmp_path, sleeps):
    api.route(URI, respond(500), respond(429, headers={"Retry-After": "4"}), respond(200, GZ))
    assert download(make_client, tmp_path).bytes == len(GZ)
    assert sleeps == [1.0, 4.0]


class Pieces(httpx.AsyncByteStream):
    """A body arriving in small pieces, as from a socket."""

    def __init__(self, data: bytes, size: int) -> None:
        self.data, self.size = data, size

    async def __aiter__(self):
        for start in range(0, len(self.data), self.size):
            yield self.data[start : start + self.size]


def test_a_body_of_many_pieces_is_kept_exactly(api, make_client, tmp_path):
    # Incompressible, so the .gz spans several worker batches; two members, to cross a member boundary.
    noise = random.Random(7).randbytes(int(2.5 * bulk_api.CHUNK_BYTES))
    big = gzip.compress(noise[:100_000], mtime=0) + gzip.compress(noise, mtime=0)
    api.route(URI, respond(200, stream=lambda: Pieces(big, 65_000)))
    result = download(make_client, tmp_path)
    assert result.path.read_bytes() == big
    assert (result.bytes, result.sha256) == (len(big), hashlib.sha256(big).hexdigest())


def test_a_body_truncated_mid_batch_is_retried(api, make_client, tmp_path, sleeps):
    big = gzip.compress(random.Random(8).randbytes(3 * bulk_api.CHUNK_BYTES), mtime=0)
    api.route(URI, respond(200, stream=lambda: Pieces(big[: len(big) * 2 // 3], 65_536)), respond(200, big))
    result = download(make_client, tmp_path)
    assert result.path.read_bytes() == big
    assert sleeps == [1.0]
    assert os.listdir(tmp_path) == [result.name]


def test_writing_hashing_and_inflating_run_off_the_event_loop(api, make_client, tmp_path, monkeypatch):
    threads = set()
    feed = Sink.feed

    def recording(self, pieces):
        threads.add(threading.current_thread())
        feed(self, pieces)

    monkeypatch.setattr(Sink, "feed", recording)
    api.route(URI, respond(200, GZ))
    loop_thread = threading.current_thread()  # asyncio.run runs the loop on this thread
    download(make_client, tmp_path)
    assert threads and loop_thread not in threads


def test_a_cancelled_download_waits_for_its_worker_then_cleans_up(api, make_client, tmp_path, monkeypatch):
    entered, release = threading.Event(), threading.Event()
    feed = Sink.feed
    after_release = []

    def blocking(self, pieces):
        entered.set()
        release.wait(5)
        feed(self, pieces)  # writes to the temporary file after the cancellation arrived
        after_release.append(os.listdir(tmp_path))

    monkeypatch.setattr(Sink, "feed", blocking)
    api.route(URI, respond(200, GZ))

    async def main():
        async with make_client() as client:
            task = asyncio.create_task(client.download(FILE, tmp_path))
            while not entered.is_set():
                await asyncio.sleep(0.001)
            task.cancel()
            await asyncio.sleep(0.05)
            assert not task.done()  # the worker is still writing: cleanup must wait for it
            release.set()
            with pytest.raises(asyncio.CancelledError):
                await task

    asyncio.run(main())
    assert len(after_release) == 1 and len(after_release[0]) == 1  # the .part file, still there then
    assert os.listdir(tmp_path) == []  # and removed only after the worker had finished


SIGNED = "https://storage.test/bucket/streams_US.json.gz?X-Goog-Signature=s1gn4ture"


def with_storage(api, *replies) -> tuple[httpx.MockTransport, list[httpx.Request]]:
    """The fake API plus a storage host answering `replies` (see `respond`) in turn, the last repeating."""
    seen: list[httpx.Request] = []
    queue = list(replies)

    async def handler(request: httpx.Request) -> httpx.Response:
        if request.url.host != "storage.test":
            return await api.handler(request)
        seen.append(request)
        return (queue.pop(0) if len(queue) > 1 else queue[0])(request)

    return httpx.MockTransport(handler), seen


def test_a_redirect_is_followed_without_the_token_and_keeps_the_gzip(api, make_client, tmp_path):
    api.route(URI, respond(303, headers={"Location": SIGNED}))
    transport, seen = with_storage(api, respond(200, GZ, headers={"Content-Encoding": "gzip"}))
    result = download(make_client, tmp_path, transport=transport)
    assert result.path.read_bytes() == GZ and not result.empty
    (storage,) = seen
    assert "authorization" not in storage.headers and storage.headers["accept-encoding"] == "gzip"
    assert api.requests[0].headers["authorization"] == "Bearer token-1"


def test_a_refused_signed_url_is_asked_for_again_then_fails_without_showing_it(api, make_client, tmp_path):
    api.route(URI, respond(302, headers={"Location": SIGNED}))
    transport, seen = with_storage(api, respond(403), respond(400), respond(200, GZ))
    assert download(make_client, tmp_path, transport=transport).path.read_bytes() == GZ
    assert (len(api.requests), len(seen)) == (3, 3)
    transport, seen = with_storage(api, respond(403))
    with pytest.raises(bulk_api.SignedUrlRefused) as info:
        download(make_client, tmp_path / "x", transport=transport)
    assert "refused 4 fresh signed URLs (statuses 403, 403, 403, 403)" in str(info.value)
    assert "s1gn4ture" not in str(info.value) and "storage.test" not in str(info.value)


def test_a_redirect_without_a_usable_location_fails(api, make_client, tmp_path):
    api.route(URI, respond(307, headers={"Location": "ftp://storage.test/file"}))
    with pytest.raises(ApiStatusError, match=f"GET /v1/analytics{URI} answered 307"):
        download(make_client, tmp_path)


def test_an_empty_gzip_is_marked_empty(api, make_client, tmp_path):
    api.route(URI, respond(200, gzip.compress(b"")))
    assert download(make_client, tmp_path).empty
