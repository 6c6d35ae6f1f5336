"""The emulator's HTTP server: a real HTTP/1.1 server on loopback, with keep-alive.

Requests are routed through the route table (`routes`); transport faults are applied here, on the
way out, to responses that would otherwise have succeeded. Files are streamed from the disk cache
with `socket.sendfile`, so a response of any size costs no memory.
"""

from __future__ import annotations

import contextlib
import logging
import socket
import struct
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from pipeline.emulator.faults import Fault, FaultState
from pipeline.emulator.router import Request, Response, Router, api_error, json_response
from pipeline.emulator.storage import expired_token

log = logging.getLogger(__name__)
_QUIET = (ConnectionError, TimeoutError)


def quota_exceeded(retry_after: int) -> Response:
    """A quota ban: 429 with a long `Retry-After` and `reason: QUOTA_EXCEEDED` in the error body."""
    error = {"status": 429, "message": "API rate limit exceeded", "reason": "QUOTA_EXCEEDED"}
    return json_response(429, {"error": error}, headers={"Retry-After": str(retry_after)})


class EmulatorHTTPServer(ThreadingHTTPServer):
    """A threading server that knows its router and fault state and tracks open connections."""

    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 256  # benchmarks open many connections at once

    def __init__(self, address: tuple[str, int], router: Router, faults: FaultState, on_request: Any) -> None:
        super().__init__(address, _Handler)
        self.router = router
        self.faults = faults
        self.on_request = on_request  # (method, path, status, fault kind or None) -> None
        self.connections: set[socket.socket] = set()
        self.connections_lock = threading.Lock()
        self.connections_opened = 0

    def handle_error(self, request: Any, client_address: Any) -> None:
        log.debug("emulator connection error from %s", client_address, exc_info=True)

    def close_connections(self) -> None:
        """Shut down every open keep-alive connection (used when stopping)."""
        with self.connections_lock:
            for sock in list(self.connections):
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "SpotifyEmulator/1.0"
    sys_version = ""
    server: EmulatorHTTPServer

    def setup(self) -> None:
        super().setup()
        # Headers and body go out in separate writes: without this, Nagle's algorithm and the
        # client's delayed ACK add ~40 ms to every small response.
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        with self.server.connections_lock:
            self.server.connections.add(self.connection)
            self.server.connections_opened += 1

    def finish(self) -> None:
        with self.server.connections_lock:
            self.server.connections.discard(self.connection)
        with contextlib.suppress(*_QUIET, ValueError):
            super().finish()

    def handle_one_request(self) -> None:
        try:
            super().handle_one_request()
        except ValueError:  # flushing a connection a `reset` fault closed on purpose
            if not self.close_connection:
                raise

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("emulator: " + format, *args)

    def do_GET(self) -> None:
        self._serve()

    def do_HEAD(self) -> None:
        self._serve()

    def do_POST(self) -> None:
        self._serve()

    def do_PUT(self) -> None:
        self._serve()

    def do_DELETE(self) -> None:
        self._serve()

    def _serve(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length > 0 else b""
        url = urlsplit(self.path)
        request = Request(
            method="GET" if self.command == "HEAD" else self.command,
            path=url.path,
            query=parse_qs(url.query),
            headers={k.lower(): v for k, v in self.headers.items()},
            body=body,
        )
        try:
            response = self.server.router.dispatch(request)
        except Exception:
            log.exception("emulator handler failed for %s %s", self.command, url.path)
            response = api_error(500, "Emulator error")
        picked = self.server.faults.pick(response.info, response.status)
        fault = picked[0] if picked else None
        status = response.status
        try:
            if picked is None:
                self._send(response)
            else:
                status = self._send_faulty(response, *picked)
        except _QUIET:
            self.close_connection = True
        finally:
            self.server.on_request(self.command, url.path, status, fault.kind if fault else None)

    def _head(self, status: int, headers: dict[str, str], length: int) -> None:
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(length))
        self.end_headers()

    def _body(self, response: Response, limit: int | None = None) -> None:
        if self.command == "HEAD":
            return
        if response.file is None:
            self.wfile.write(response.body if limit is None else response.body[:limit])
            return
        with open(response.file, "rb") as fh:
            if limit != 0:
                self.connection.sendfile(fh, 0, limit)

    def _send(self, response: Response) -> None:
        self._head(response.status, response.headers, response.length)
        self._body(response)

    def _send_faulty(self, response: Response, fault: Fault, fired: int) -> int:
        kind = fault.kind
        if kind == "slow":
            time.sleep(fault.delay)
            self._send(response)
            return response.status
        if kind == "rate_limit":
            error = api_error(429, "API rate limit exceeded", headers={"Retry-After": str(fault.retry_after)})
            self._send(error)
            return 429
        if kind == "quota_ban":
            self._send(quota_exceeded(fault.retry_after))
            return 429
        if kind == "missing_file":
            self._send(api_error(404, "Not found", response.info))
            return 404
        if kind == "signed_expired":
            self._send(expired_token())
            return 403
        if kind == "server_error":
            status = fault.status[fired % len(fault.status)] if fault.status else 503
            self._send(api_error(status, "Service temporarily unavailable"))
            return status
        cut = int(response.length * fault.fraction)
        if kind == "truncate":  # a body that looks complete to HTTP; only gunzip can tell
            self._head(response.status, response.headers, cut)
            self._body(response, cut)
            return response.status
        # reset: announce the full length, send part of it, then abort the connection (RST)
        self._head(response.status, response.headers, response.length)
        self._body(response, cut)
        self.wfile.flush()
        self.close_connection = True
        sock = self.connection
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.rfile.close()
        self.wfile.close()
        sock.close()
        return response.status
