"""A deliberately hostile Bulk API on 127.0.0.1: scripted listings, bombs and evil file names.

Unlike the emulator, which is faithful, this one answers whatever a test scripts for a path, so
the client meets traversal attempts and oversized bodies over a real socket.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

BASE = "/v1/analytics"
TOKEN = "hostile-token"


@dataclass
class Script:
    """What each path answers: (status, headers, body). Unscripted paths answer 404."""

    routes: dict[str, tuple[int, dict[str, str], bytes]] = field(default_factory=dict)
    requests: list[str] = field(default_factory=list)

    def json(self, path: str, payload: Any) -> None:
        self.routes[BASE + path] = (200, {"Content-Type": "application/json"}, json.dumps(payload).encode())

    def file(self, path: str, body: bytes, headers: dict[str, str] | None = None) -> None:
        self.routes[BASE + path] = (
            200,
            {"Content-Type": "application/octet-stream", **(headers or {})},
            body,
        )

    def tree(self, licensor: str, report: str, day_path: str) -> None:
        """Honest year and month listings down to `day_path` (e.g. '2026/06/12')."""
        year, month, _ = day_path.split("/")
        root = f"/{licensor}/enhanced/{report}"
        self.json(root, [{"uri": f"{root}/{year}"}])
        self.json(f"{root}/{year}", [{"uri": f"{root}/{year}/{month}"}])
        self.json(f"{root}/{year}/{month}", [{"uri": f"{root}/{day_path}"}])


def _handler(script: Script) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:  # quiet
            return

        def _answer(self, status: int, headers: dict[str, str], body: bytes) -> None:
            self.send_response(status)
            for name, value in headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("Content-Length") or 0))
            payload = {"access_token": TOKEN, "token_type": "Bearer", "expires_in": 3600}
            self._answer(200, {"Content-Type": "application/json"}, json.dumps(payload).encode())

        def do_GET(self) -> None:
            script.requests.append(self.path)
            if self.headers.get("Authorization") != f"Bearer {TOKEN}":
                self._answer(401, {}, b"")
                return
            self._answer(*script.routes.get(self.path, (404, {}, b"")))

    return Handler


@contextmanager
def hostile_server(script: Script) -> Iterator[str]:
    """Serve `script` on a free loopback port; yields the base URL (accounts at /api/token)."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(script))
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        host, port = server.server_address[:2]
        yield f"http://{host}:{port}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
