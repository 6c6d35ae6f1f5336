"""One retrying request layer over `httpx.AsyncClient`, shared by the Bulk API and Web API clients.

Transient failures (429, 500/502/503/504, connection resets, timeouts, bodies cut short) are retried
with exponential backoff and full jitter, honouring `Retry-After`. A wait longer than the policy's
`max_retry_after`, or a quota ban (429 with `reason: QUOTA_EXCEEDED`), ends the call at once with
`WaitTooLong`/`QuotaExceeded` and the UTC time to resume: sleeping through hours helps nobody. A
streamed download that fails mid-body is restarted from scratch. Errors name the method and URL path
only: never the query string (signed URLs), headers, tokens or secrets.
"""

from __future__ import annotations

import asyncio
import email.utils
import functools
import json
import logging
import random
import re
import ssl
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Protocol, TypeVar

import httpx

log = logging.getLogger(__name__)

T = TypeVar("T")
Sleep = Callable[[float], Awaitable[None]]
USER_AGENT = "spotify-bulk-etl/0.1"
QUOTA_REASON = "QUOTA_EXCEEDED"
# httpx logs every request's URL (INFO) and httpcore every response's headers (DEBUG): a signed
# download URL (query string = signature) or its `Location` would reach the logs through them.
HTTP_LIBRARY_LOGGERS = ("httpx", "httpcore.http11", "httpcore.http2", "httpcore.connection", "httpcore.proxy")
_URL_QUERY = re.compile(r"(https?://[^\s?'\"]*)\?[^\s'\"]*")
_ERROR_BODY_LIMIT = 64 << 10  # a 429's body is a short JSON error; never read more of it

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


class WaitTooLong(ApiError):
    """The server asked for a wait longer than we sleep through: stop now and say when to resume.

    `wait_seconds` is the asked wait (None when a quota ban gave no `Retry-After`) and `resume_at`
    the UTC time it ends; the message is the one an operator acts on.
    """

    def __init__(
        self,
        method: str,
        url: str | httpx.URL,
        *,
        wait_seconds: float | None,
        limit: float | None = None,
        now: datetime | None = None,
    ) -> None:
        self.method, self.path, self.wait_seconds, self.limit = method, url_path(url), wait_seconds, limit
        start = now or datetime.now(UTC)
        self.resume_at = None if wait_seconds is None else start + timedelta(seconds=wait_seconds)
        where = f"{method} {self.path}"
        if self.resume_at is None:
            super().__init__(f"Spotify reported {self.why()} on {where} without a Retry-After: resume later")
        else:
            super().__init__(
                f"Spotify asked to wait {human_duration(wait_seconds or 0.0)} ({self.why()}) on {where}: "
                f"resume after {format_resume(self.resume_at)}"
            )

    def why(self) -> str:
        limit = f" of {human_duration(self.limit)}" if self.limit is not None else ""
        return f"over the limit{limit}, SPOTIFY_MAX_RETRY_AFTER_SECONDS"


class QuotaExceeded(WaitTooLong):
    """A quota ban: 429 with `reason: QUOTA_EXCEEDED` (Retry-After of 20 h and more are seen)."""

    def why(self) -> str:
        return "quota exceeded"


def human_duration(seconds: float) -> str:
    """`20.0 h`, `15.0 min` or `90 s`: a wait as an operator reads it."""
    if seconds >= 3600:
        return f"{seconds / 3600:.1f} h"
    if seconds >= 120:
        return f"{seconds / 60:.1f} min"
    return f"{seconds:.0f} s"


def format_resume(when: datetime) -> str:
    """A UTC time to the minute, rounded up so that resuming at it is never too early."""
    when = when.astimezone(UTC)
    if when.second or when.microsecond:
        when = when.replace(second=0, microsecond=0) + timedelta(minutes=1)
    return when.strftime("%Y-%m-%dT%H:%MZ")


def is_quota_ban(status: int, body: bytes) -> bool:
    """Whether a response is a quota ban: a 429 whose JSON error carries `reason: QUOTA_EXCEEDED`."""
    if status != 429 or not body:
        return False
    try:
        payload = json.loads(body)
    except ValueError:
        return False
    error = payload.get("error") if isinstance(payload, dict) else None
    return any(isinstance(p, dict) and p.get("reason") == QUOTA_REASON for p in (payload, error))


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
    max_retry_after: float = 600.0  # a longer Retry-After ends the call with `WaitTooLong`
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
            limit = policy.max_retry_after
            if retry_after is not None and retry_after > limit:
                raise WaitTooLong(method, url, wait_seconds=retry_after, limit=limit) from None
            if number == policy.max_attempts:
                raise RetriesExhausted(method, url, attempts=number, status=status, cause=cause) from last
            delay = retry_after if retry_after is not None else policy.backoff(number, self._rng)
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

    def _check_retryable(self, method: str, url: str, response: httpx.Response, body: bytes) -> None:
        """Raise `RetryableError` for a status worth another try (`run` ends a too long wait), or
        `QuotaExceeded` for a quota ban, told apart by the reason in `body` (the start of the body)."""
        status = response.status_code
        if status not in self.policy.retry_statuses:
            return
        retry_after = parse_retry_after(response.headers.get("retry-after"))
        if is_quota_ban(status, body):
            raise QuotaExceeded(method, url, wait_seconds=retry_after)
        raise RetryableError(
            f"status {status} {_reason(status)}".rstrip(), status=status, retry_after=retry_after
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
                self._check_retryable(method, url, response, response.content[:_ERROR_BODY_LIMIT])
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
        follow_redirects: bool = True,
        anonymous: bool = False,
        shown_as: str | None = None,
    ) -> T:
        """Open a streamed response and pass it to `handle`; a failure mid-body restarts it all.

        `handle` sees every non-retryable response (it decides what a 404 or a 401 means) and may
        raise `RetryableError` when the body it read is unusable (for example a truncated gzip).
        With `tokens`, every attempt carries the current bearer token (see `_stale_token`).
        `anonymous` sends no `Authorization` header at all (a signed storage URL is refused with
        one); `shown_as` is the URL named in logs and errors instead of `url` (which may be secret).
        """
        shown = shown_as or url

        async def attempt() -> T:
            refreshed = False
            while True:
                token = await tokens.token() if tokens is not None else None
                request = self.client.build_request(method, url, headers=_with_bearer(headers, token))
                if anonymous:
                    request.headers.pop("Authorization", None)
                response = await self.client.send(request, stream=True, follow_redirects=follow_redirects)
                try:
                    if self._stale_token(response, tokens, token, refreshed):
                        refreshed = True
                        continue
                    body = await _error_body(response) if response.status_code == 429 else b""
                    self._check_retryable(method, shown, response, body)
                    return await handle(response)
                finally:
                    await response.aclose()

        return await self.run(method, shown, attempt)


async def _error_body(response: httpx.Response) -> bytes:
    """The start of a streamed error response's body (enough for a JSON error, never a huge one)."""
    data = b""
    async for chunk in response.aiter_bytes():
        data += chunk
        if len(data) >= _ERROR_BODY_LIMIT:
            break
    return data[:_ERROR_BODY_LIMIT]


def _with_bearer(headers: Mapping[str, str] | None, token: str | None) -> Mapping[str, str] | None:
    if token is None:
        return headers
    return {**(headers or {}), "Authorization": f"Bearer {token}"}


class RedactQueries(logging.Filter):
    """Rewrites a log record with every URL's query string replaced by `?<redacted>`."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        redacted = _URL_QUERY.sub(r"\1?<redacted>", message)
        if redacted != message:
            record.msg, record.args = redacted, None
        return True


def redact_library_logs() -> None:
    """Install `RedactQueries` on the HTTP libraries' loggers (once per process)."""
    for name in HTTP_LIBRARY_LOGGERS:
        logger = logging.getLogger(name)
        if not any(isinstance(f, RedactQueries) for f in logger.filters):
            logger.addFilter(RedactQueries())


def new_async_client(
    *,
    timeout: float | httpx.Timeout,
    max_connections: int = 16,
    transport: httpx.AsyncBaseTransport | None = None,
) -> httpx.AsyncClient:
    """An `httpx.AsyncClient` with explicit timeouts and pool limits (and URL queries kept out of logs)."""
    redact_library_logs()
    return httpx.AsyncClient(
        verify=default_ssl_context(),
        timeout=make_timeout(timeout),
        limits=httpx.Limits(max_connections=max_connections, max_keepalive_connections=max_connections),
        transport=transport,
        follow_redirects=True,
        headers={"User-Agent": USER_AGENT},
    )


@functools.cache
def default_ssl_context() -> ssl.SSLContext:
    """httpx's default verifying context (certifi, or SSL_CERT_FILE/SSL_CERT_DIR), built once per
    process: building it reads the CA bundle, 16 ms a client, and a load makes a client per report."""
    return httpx.create_ssl_context()
