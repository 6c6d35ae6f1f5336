"""The download path over real loopback sockets: raw gzip kept, cut connections retried from scratch."""

from __future__ import annotations

import asyncio
import gzip
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from pipeline.clients.bulk_api import BulkApiClient, RemoteFile
from pipeline.clients.connection import Connection
from pipeline.clients.http import RetryPolicy

GZ = gzip.compress(b"".join(b'{"n": %d}\n' % i for i in range(20000)), mtime=0)
URI = "/acme/enhanced/streams/2026/11/20/US"


class Server:
    def __init__(self) -> None:
        self.cuts_left = 0
        self.hits = 0


@pytest.fixture
def server() -> Iterator[tuple[str, Server]]:
    state = Server()

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *_args: object) -> None:
            pass

        def do_POST(self) -> None:
            self.rfile.read(int(self.headers["Content-Length"]))
            payload = json.dumps({"access_token": "tok", "token_type": "Bearer", "expires_in": 3600}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def do_GET(self) -> None:
            state.hits += 1
            assert self.headers["Authorization"] == "Bearer tok"
            self.send_response(200)
            self.send_header("Content-Encoding", "gzip")
            self.send_header("Content-Type", "application/x-ndjson")
            self.send_header("Content-Length", str(len(GZ)))
            self.end_headers()
            if state.cuts_left > 0:  # promise the whole body, send half, hang up
                state.cuts_left -= 1
                self.wfile.write(GZ[: len(GZ) // 2])
                self.wfile.flush()
                self.close_connection = True
                return
            self.wfile.write(GZ)

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}", state
    finally:
        httpd.shutdown()
        httpd.server_close()


def test_cut_connection_is_retried_and_the_raw_gzip_is_kept(server, tmp_path):
    url, state = server
    state.cuts_left = 2
    sleeps: list[float] = []

    async def sleep(seconds: float) -> None:
        sleeps.append(seconds)

    async def main():
        async with BulkApiClient(
            Connection(
                f"{url}/v1/analytics", f"{url}/api/token", client_id="id", client_secret="secret", timeout=5.0
            ),
            retry=RetryPolicy(max_attempts=3, base_delay=0.5),
            sleep=sleep,
        ) as client:
            return await client.download(RemoteFile(URI, "US", "us.json.gz"), tmp_path)

    result = asyncio.run(main())
    assert result.path.read_bytes() == GZ
    assert state.hits == 3
    assert len(sleeps) == 2
    assert sorted(p.name for p in tmp_path.iterdir()) == ["us.json.gz"]
