"""A scripted fake of the Accounts service and the Bulk API on `httpx.MockTransport`.

Routes answer from queues (the last reply repeats), tokens are issued and revoked like the real
service, and every request is recorded so tests can assert exactly what was sent.
"""

from __future__ import annotations

import base64
import inspect
from collections.abc import Awaitable, Callable
from urllib.parse import parse_qs

import httpx

BASE_URL = "https://bulk.test/v1/analytics"
ACCOUNTS_URL = "https://accounts.test/api/token"
CLIENT_ID = "test-client-id"
CLIENT_SECRET = "s3cr3t-never-shown-0xC0FFEE"

Reply = Callable[[httpx.Request], httpx.Response | Awaitable[httpx.Response]]


def respond(
    status: int = 200,
    content: bytes = b"",
    *,
    json: object = None,
    headers: dict[str, str] | None = None,
    stream: Callable[[], httpx.AsyncByteStream] | None = None,
) -> Reply:
    """A reply factory: a fresh `httpx.Response` for every request."""

    def reply(_request: httpx.Request) -> httpx.Response:
        if stream is not None:
            return httpx.Response(status, headers=headers, stream=stream())
        if json is not None:
            return httpx.Response(status, json=json, headers=headers)
        # A stream (not `content=`), so the body is not pre-read and `aiter_raw` works as on the wire.
        sized = {"Content-Length": str(len(content)), **(headers or {})}
        return httpx.Response(status, headers=sized, stream=httpx.ByteStream(content))

    return reply


def listing(*uris: str) -> Reply:
    return respond(json=[{"uri": u} for u in uris])


class BrokenStream(httpx.AsyncByteStream):
    """A body that sends `data` and then fails the way a reset connection does."""

    def __init__(self, data: bytes, exc: Exception) -> None:
        self.data, self.exc = data, exc

    async def __aiter__(self):
        yield self.data
        raise self.exc


class FakeApi:
    """Accounts + Bulk API: bearer tokens are checked, unknown paths answer 404."""

    def __init__(self) -> None:
        self.routes: dict[str, list[Reply]] = {}
        self.requests: list[httpx.Request] = []
        self.token_requests: list[httpx.Request] = []
        self.issued: list[str] = []
        self.revoked: set[str] = set()
        self.accounts_replies: list[Reply] = []
        self.expires_in = 3600

    def route(self, path: str, *replies: Reply) -> None:
        self.routes[path] = list(replies)

    def paths(self) -> list[str]:
        return [r.url.path.removeprefix("/v1/analytics") for r in self.requests]

    def revoke_all(self) -> None:
        self.revoked.update(self.issued)

    async def handler(self, request: httpx.Request) -> httpx.Response:
        if str(request.url) == ACCOUNTS_URL:
            return self._token(request)
        self.requests.append(request)
        token = request.headers.get("authorization", "").removeprefix("Bearer ")
        if token not in self.issued or token in self.revoked:
            return httpx.Response(401, json={"error": {"status": 401, "message": "The access token expired"}})
        replies = self.routes.get(request.url.path.removeprefix("/v1/analytics"))
        if not replies:
            return httpx.Response(404, json={"error": {"status": 404, "message": "Not found"}})
        reply = replies.pop(0) if len(replies) > 1 else replies[0]
        response = reply(request)
        return await response if inspect.isawaitable(response) else response

    def _token(self, request: httpx.Request) -> httpx.Response:
        self.token_requests.append(request)
        if self.accounts_replies:
            reply = self.accounts_replies.pop(0)
            response = reply(request)
            assert isinstance(response, httpx.Response)
            return response
        expected = base64.b64encode(f"{CLIENT_ID}:{CLIENT_SECRET}".encode()).decode()
        form = parse_qs(request.content.decode())
        if request.headers.get("authorization") != f"Basic {expected}":
            body = {"error": "invalid_client", "error_description": "Invalid client"}
            return httpx.Response(400, json=body)
        if form != {"grant_type": ["client_credentials"]}:
            return httpx.Response(400, json={"error": "unsupported_grant_type"})
        token = f"token-{len(self.issued) + 1}"
        self.issued.append(token)
        return httpx.Response(
            200, json={"access_token": token, "token_type": "Bearer", "expires_in": self.expires_in}
        )


class MaxJitter:
    """Pins full jitter to its ceiling and records each ceiling asked for."""

    def __init__(self) -> None:
        self.ceilings: list[float] = []

    def uniform(self, a: float, b: float) -> float:
        assert a == 0.0
        self.ceilings.append(b)
        return b
