"""Requests, responses and the route table of the emulator's HTTP server.

The route table is the extension point: each API is a set of `(method, path pattern, handler)`
routes, added with `Router.add`. The Web API (`/v1/tracks`, `/v1/albums`, ...) plugs in here next
to the Bulk API (`/v1/analytics/...`) and Accounts (`/api/token`) without touching the server.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pipeline.emulator.faults import RequestInfo


@dataclass(frozen=True)
class Request:
    method: str
    path: str  # without the query string
    query: dict[str, list[str]]
    headers: dict[str, str]  # lower-cased names
    body: bytes
    params: dict[str, str] = field(default_factory=dict)  # named groups of the route pattern

    def header(self, name: str) -> str:
        return self.headers.get(name.lower(), "")


@dataclass
class Response:
    """A response: a body in memory, or a file on disk streamed to the client."""

    status: int
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    file: Path | None = None
    info: RequestInfo = field(default_factory=lambda: RequestInfo("other"))  # what faults may match

    @property
    def length(self) -> int:
        return self.file.stat().st_size if self.file is not None else len(self.body)


def json_response(
    status: int, payload: Any, info: RequestInfo | None = None, headers: dict[str, str] | None = None
) -> Response:
    body = json.dumps(payload, separators=(",", ":")).encode()
    all_headers = {"Content-Type": "application/json; charset=utf-8", **(headers or {})}
    return Response(status, body, all_headers, info=info or RequestInfo("other"))


def api_error(
    status: int, message: str, info: RequestInfo | None = None, headers: dict[str, str] | None = None
) -> Response:
    """An error in the Spotify Web/Bulk API shape: {"error": {"status", "message"}}."""
    return json_response(status, {"error": {"status": status, "message": message}}, info, headers)


Handler = Callable[[Request], Response]


@dataclass(frozen=True)
class Route:
    method: str
    pattern: re.Pattern[str]
    handler: Handler


class Router:
    """Routes matched in the order they were added; the first whose pattern matches the path wins."""

    def __init__(self) -> None:
        self.routes: list[Route] = []

    def add(self, method: str, pattern: str, handler: Handler) -> None:
        """Route `method` requests whose whole path matches the regex `pattern` to `handler`."""
        self.routes.append(Route(method.upper(), re.compile(pattern), handler))

    def dispatch(self, request: Request) -> Response:
        allowed = []
        for route in self.routes:
            match = route.pattern.fullmatch(request.path)
            if match is None:
                continue
            if route.method != request.method:
                allowed.append(route.method)
                continue
            request.params.update({k: v for k, v in match.groupdict().items() if v is not None})
            return route.handler(request)
        if allowed:
            return api_error(405, "Method not allowed", headers={"Allow": ", ".join(sorted(set(allowed)))})
        return api_error(404, "Service not found")
