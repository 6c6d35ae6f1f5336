"""Client-credentials access tokens for Spotify's APIs, cached and refreshed on a 401.

One token serves every request until shortly before it expires; concurrent callers share a single
token request. Requests pass the provider to `RetryingClient` (`tokens=`), which takes the token per
attempt and swaps it once on a 401. Neither the secret nor a token ever reaches a log line, exception or repr.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Self

import httpx

from pipeline.clients.connection import Connection
from pipeline.clients.http import (
    ApiError,
    RetryingClient,
    RetryPolicy,
    Sleep,
    TokenSource,
    Uniform,
    new_async_client,
    url_path,
)

log = logging.getLogger(__name__)

__all__ = [
    "ApiSession",
    "AuthError",
    "ClientCredentials",
    "Credentials",
    "TokenRejected",
    "TokenSource",
    "bearer",
]
_ERROR_CODE = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")


class AuthError(ApiError):
    """The credentials or a token were refused; the message never contains either."""


class TokenRejected(AuthError):
    """An API answered 401 to a request carrying our token (expired or revoked)."""

    def __init__(self, method: str, url: str | httpx.URL) -> None:
        self.method, self.path = method, url_path(url)
        super().__init__(f"{method} {self.path} rejected the access token (401) even after a refresh")


@dataclass(frozen=True)
class Credentials:
    """A client id and secret, never shown in `repr`."""

    client_id: str = field(repr=False)
    client_secret: str = field(repr=False)


@dataclass(frozen=True)
class _Token:
    value: str = field(repr=False)
    expires_at: float  # on the provider's clock


class ClientCredentials:
    """Fetches and caches a client-credentials token from the Spotify Accounts service."""

    def __init__(
        self,
        http: RetryingClient,
        *,
        accounts_url: str,
        credentials: Credentials,
        refresh_margin: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._http = http
        self._accounts_url = accounts_url
        self._credentials = credentials
        self._refresh_margin = refresh_margin
        self._clock = clock
        self._token: _Token | None = None
        self._lock = asyncio.Lock()
        self.token_requests = 0  # how many tokens were fetched (observability and tests)

    def __repr__(self) -> str:
        return f"ClientCredentials(accounts_path={url_path(self._accounts_url)!r})"

    async def token(self) -> str:
        """A valid access token, fetching a new one only when none is cached or it is about to expire."""
        current = self._token
        if current is not None and self._clock() < current.expires_at:
            return current.value
        async with self._lock:
            current = self._token
            if current is None or self._clock() >= current.expires_at:
                current = self._token = await self._fetch()
            return current.value

    def invalidate(self, token: str | None = None) -> None:
        """Drop the cached token (only if it is still `token`, so a fresh one is not thrown away)."""
        if self._token is not None and (token is None or self._token.value == token):
            self._token = None

    async def _fetch(self) -> _Token:
        creds = self._credentials
        if not creds.client_id or not creds.client_secret:
            raise AuthError(
                "no Spotify client credentials configured: set SPOTIFY_CLIENT_ID and SPOTIFY_CLIENT_SECRET"
            )
        self.token_requests += 1
        response = await self._http.request(
            "POST",
            self._accounts_url,
            data={"grant_type": "client_credentials"},
            auth=(creds.client_id, creds.client_secret),
            headers={"Accept": "application/json"},
        )
        payload = _json_object(response)
        if response.status_code != 200:
            raise AuthError(_refusal_message(response.status_code, payload))
        value = payload.get("access_token")
        if not isinstance(value, str) or not value:
            raise AuthError("Spotify Accounts answered without an access_token")
        expires_in = payload.get("expires_in", 3600)
        if not isinstance(expires_in, int | float) or isinstance(expires_in, bool) or expires_in <= 0:
            expires_in = 3600
        margin = min(self._refresh_margin, expires_in / 2)
        log.info("fetched a Spotify access token valid for %ss", expires_in)
        return _Token(value=value, expires_at=self._clock() + expires_in - margin)


def _json_object(response: httpx.Response) -> dict[str, object]:
    try:
        payload = response.json()
    except ValueError:
        return {}
    return payload if isinstance(payload, dict) else {}


def _refusal_message(status: int, payload: dict[str, object]) -> str:
    code = payload.get("error")
    code = code if isinstance(code, str) and _ERROR_CODE.fullmatch(code) else None
    if code == "invalid_client" or (code is None and status == 401):
        return "Spotify Accounts rejected the client credentials (invalid_client)"
    detail = f" ({code})" if code else ""
    return f"Spotify Accounts refused the token request with status {status}{detail}"


def bearer(token: str) -> dict[str, str]:
    """The Authorization header for a token."""
    return {"Authorization": f"Bearer {token}"}


class ApiSession:
    """What every Spotify API client holds: a retrying httpx client and a client-credentials token.

    The Bulk API and Web API clients subclass it; use them as `async with Client(...) as client`.
    """

    def __init__(
        self,
        connection: Connection,
        *,
        retry: RetryPolicy | None,
        max_connections: int,
        transport: httpx.AsyncBaseTransport | None,
        sleep: Sleep,
        rng: Uniform | None,
    ) -> None:
        self.connection = connection
        self.base_url = connection.base_url.rstrip("/")
        self.max_concurrency = connection.max_concurrency
        client = new_async_client(
            timeout=connection.timeout, max_connections=max_connections, transport=transport
        )
        # The connection's patience is the policy's: a longer Retry-After ends the call (`WaitTooLong`).
        policy = retry or RetryPolicy(max_retry_after=connection.max_retry_after)
        self.http = RetryingClient(client, policy=policy, sleep=sleep, rng=rng)
        self.tokens = ClientCredentials(
            self.http,
            accounts_url=connection.accounts_url,
            credentials=Credentials(connection.client_id, connection.client_secret),
        )

    def __repr__(self) -> str:
        return f"{type(self).__name__}(base_url={self.base_url!r}, max_concurrency={self.max_concurrency})"

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *_exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self.http.aclose()
