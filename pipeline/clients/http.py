"""One retrying request layer over `httpx.AsyncClient`, shared by the Bulk API and Web API clients.

Transient failures (429, 500/502/503/504, connection resets, timeouts, bodies cut short) are retried
with exponential backoff and full jitter, honouring `Retry-After`. A streamed download that fails
mid-body is restarted from scratch. Errors name the method and URL path only: never the query
string, headers, tokens or secrets.
"""

from __future__ import annotations

import asyncio
import email.utils
import logging
import random
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Protocol, TypeVar

import httpx

log = logging.getLogger(__name__)

T = TypeVar("T")
Sleep = Callable[[float], Awaitable[None]]
USER_AGENT = "spotify-bulk-etl/0.1"

# Transport failures worth another try; `UnsupportedProtocol`, `LocalProtocolError` are our bugs.
RETRYABLE_TRANSPORT_ERRORS: tuple[type[Exception], ...] = (
    httpx.TimeoutException,  # connect, read, write and pool timeouts
    httpx.NetworkError,  # connect, read, write and close errors (connection resets)
    httpx.RemoteProtocolError,  # server hung up mid-response, incomplete body
)


class Uniform(Protocol):
    """The part of `random.Random` the backoff needs, so tests can pin the jitter."""

    def uniform(self, a: float, b: float) -> float: ...


class TokenSource(Protocol):
    """A provider of bearer tokens (see `pipeline.clients.session.ClientCredentials`)."""

    async def token(self) -> str: ...

    def invalidate(self, token: str | None = None) -> None: ...


class ApiError(Exception):
    """Base of every error an API client raises for a failed call."""


class ApiStatusError(ApiError):
    """The server answered with a status the caller does not handle (and that is not retried)."""

    def __init__(self, method: str, url: str | httpx.URL, status: int) -> None:
        self.method, self.path, self.status = method, url_path(url), status
        super().__init__(f"{method} {self.path} answered {status} {_reason(status)}".rstrip())


class RetriesExhausted(ApiError):
    """Every attempt failed transiently; carries the last status or cause and the attempt count."""

    def __init__(
        self, method: str, url: str | httpx.URL, *, attempts: int, status: int | None, cause: str
    ) -> None:
        self.method, self.path, self.attempts, self.status, self.cause = (
            method,
            url_path(url),
            attempts,
            status,
            cause,
        )
        super().__init__(f"{method} {self.path} failed after {attempts} attempt(s): last error: {cause}")


class RetryableError(Exception):
    """Raised inside an attempt to ask for another try (a truncated body, a retryable status)."""

    def __init__(self, cause: str, *, status: int | None = None, retry_after: float | None = None) -> None:
        super().__init__(cause)
        self.cause, self.status, self.retry_after = cause, status, retry_after


@dataclass(frozen=True)
class RetryPolicy:
    """How hard to try: attempts, backoff and the longest `Retry-After` we are willing to wait."""

    max_attempts: int = 5
    base_delay: float = 1.0  # first backoff ceiling; doubles each attempt
    max_delay: float = 30.0  # ceiling of any single backoff
    max_retry_after: float = 120.0  # a longer Retry-After is cut to this
    retry_statuses: frozenset[int] = frozenset({429, 500, 502, 503, 504})

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")
        if min(self.base_delay, self.max_delay, self.max_retry_after) < 0:
            raise ValueError("delays must not be negative")

    def backoff(self, attempt: int, rng: Uniform) -> float:
        """Full jitter: uniform in [0, min(max_delay, base_delay * 2**(attempt-1))]."""
        return rng.uniform(0.0, min(self.max_delay, self.base_delay * 2 ** (attempt - 1)))


def make_timeout(value: float | httpx.Timeout) -> httpx.Timeout:
    """Explicit connect/read/write/pool timeouts from one number (connect capped at 10 s)."""
    if isinstance(value, httpx.Timeout):
        return value
    return httpx.Timeout(connect=min(10.0, value), read=value, write=value, pool=value)


def url_path(url: str | httpx.URL) -> str:
    """The path of a URL, for messages: no scheme, host, query string or fragment."""
    return httpx.URL(url).path or "/"


def parse_retry_after(value: str | None, *, now: float | None = None) -> float | None:
    """Seconds to wait from a `Retry-After` header (delta seconds or HTTP date); None if absent/bad."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when is None or when.tzinfo is None:
        return None
    return max(0.0, when.timestamp() - (time.time() if now is None else now))


def _reason(status: int) -> str:
    try:
        return httpx.codes(status).phrase
    except ValueError:
        return ""


def _describe(exc: BaseException) -> str:
    text = str(exc).strip()
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


class RetryingClient:
    """An `httpx.AsyncClient` plus the retry loop; `request` for plain calls, `stream` for downloads."""

    def __init__(
        self,
        client: httpx.AsyncClient,
        *,
        policy: RetryPolicy | None = None,
        sleep: Sleep = asyncio.sleep,
        rng: Uniform | None = None,
    ) -> None:
        self.client = client
        self.policy = policy or RetryPolicy()
        self._sleep = sleep
        self._rng: Uniform = rng or random.Random()

    async def aclose(self) -> None:
        await self.client.aclose()

    async def run(self, method: str, url: str, attempt: Callable[[], Awaitable[T]]) -> T:
        """Call `attempt` until it returns, retrying transport errors and `RetryableError`s."""
        policy = self.policy
        for number in range(1, policy.max_attempts + 1):
            try:
                return await attempt()
            except RetryableError as exc:
                status, cause, retry_after = exc.status, exc.cause, exc.retry_after
                last: BaseException = exc
            except RETRYABLE_TRANSPORT_ERRORS as exc:
                status, cause, retry_after, last = None, _describe(exc), None, exc
            if number == policy.max_attempts:
                raise RetriesExhausted(method, url, attempts=number, status=status, cause=cause) from last
            if retry_after is not None:
                delay = min(retry_after, policy.max_retry_after)
            else:
                delay = policy.backoff(number, self._rng)
            log.warning(
                "%s %s: %s (attempt %d of %d); retrying in %.2fs",
                method,
                url_path(url),
                cause,
                number,
                policy.max_attempts,
                delay,
            )
            await self._sleep(delay)
        raise AssertionError("unreachable")  # pragma: no cover - the loop returns or raises

    @staticmethod
    def _stale_token(
        response: httpx.Response, tokens: TokenSource | None, token: str | None, refreshed: bool
    ) -> bool:
        """Whether to resend at once with a fresh token: a 401 to the attempt's first token.

        The token is taken per attempt, not per call, so one that dies during a backoff sleep (or
        a long `Retry-After`) is replaced on the next attempt. A 401 to a token fetched just now is
        returned to the caller: a persistent 401 fails fast instead of burning the retries.
        """
        if tokens is None or token is None or refreshed or response.status_code != 401:
            return False
        log.info("access token rejected (expired?); fetching a new one and resending")
        tokens.invalidate(token)
        return True

    def _check_retryable(self, response: httpx.Response) -> None:
        if response.status_code in self.policy.retry_statuses:
            raise RetryableError(
                f"status {response.status_code} {_reason(response.status_code)}".rstrip(),
                status=response.status_code,
                retry_after=parse_retry_after(response.headers.get("retry-after")),
            )

    async def request(
        self,
        method: str,
        url: str,
        *,
        headers: Mapping[str, str] | None = None,
        data: Mapping[str, str] | None = None,
        params: Mapping[str, str] | None = None,
        auth: httpx.Auth | tuple[str, str] | None = None,
        tokens: TokenSource | None = None,
    ) -> httpx.Response:
        """Send a request and read the body; returns the first non-retryable response.

        With `tokens`, every attempt carries the current bearer token (see `_stale_token`).
        """

        async def attempt() -> httpx.Response:
            refreshed = False
            while True:
                token = await tokens.token() if tokens is not None else None
                response = await self.client.request(
                    method,
                    url,
                    headers=_with_bearer(headers, token),
                    data=data,
                    params=params,
                    auth=auth if auth is not None else httpx.USE_CLIENT_DEFAULT,
                )
                if self._stale_token(response, tokens, token, refreshed):
                    refreshed = True
                    continue
                self._check_retryable(response)
                return response

        return await self.run(method, url, attempt)

    async def stream(
        self,
        method: str,
        url: str,
        handle: Callable[[httpx.Response], Awaitable[T]],
        *,
        headers: Mapping[str, str] | None = None,
        tokens: TokenSource | None = None,
    ) -> T:
        """Open a streamed response and pass it to `handle`; a failure mid-body restarts it all.

        `handle` sees every non-retryable response (it decides what a 404 or a 401 means) and may
        raise `RetryableError` when the body it read is unusable (for example a truncated gzip).
        With `tokens`, every attempt carries the current bearer token (see `_stale_token`).
        """

        async def attempt() -> T:
            refreshed = False
            while True:
                token = await tokens.token() if tokens is not None else None
                async with self.client.stream(method, url, headers=_with_bearer(headers, token)) as response:
                    if self._stale_token(response, tokens, token, refreshed):
                        refreshed = True
                        continue
                    self._check_retryable(response)
                    return await handle(response)

        return await self.run(method, url, attempt)


def _with_bearer(headers: Mapping[str, str] | None, token: str | None) -> Mapping[str, str] | None:
    if token is None:
        return headers
    return {**(headers or {}), "Authorization": f"Bearer {token}"}


def new_async_client(
    *,
    timeout: float | httpx.Timeout,
    max_connections: int = 16,
    transport: httpx.AsyncBaseTransport | None = None,
) -> httpx.AsyncClient:
    """An `httpx.AsyncClient` with explicit timeouts and pool limits."""
    return httpx.AsyncClient(
        timeout=make_timeout(timeout),
        limits=httpx.Limits(max_connections=max_connections, max_keepalive_connections=max_connections),
        transport=transport,
        follow_redirects=True,
        headers={"User-Agent": USER_AGENT},
    )
