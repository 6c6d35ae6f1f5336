"""The shared retry layer: which failures are retried, how long it waits, and how it gives up."""

from __future__ import annotations

import asyncio
import email.utils
import time

import httpx
import pytest

from pipeline.clients.http import (
    ApiStatusError,
    QuotaExceeded,
    RetriesExhausted,
    RetryableError,
    RetryingClient,
    RetryPolicy,
    WaitTooLong,
    format_resume,
    make_timeout,
    parse_retry_after,
)
from tests.kits.fake_api import MaxJitter

URL = "https://api.test/v1/things?ids=1&token=query-secret"
POLICY = RetryPolicy(max_attempts=4, base_delay=1.0, max_delay=3.0, max_retry_after=30.0)


def scripted(*steps: object) -> tuple[httpx.MockTransport, list[httpx.Request]]:
    """Each request takes the next step: a status code, an `httpx.Response` or an exception."""
    queue, seen = list(steps), []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        step = queue.pop(0) if len(queue) > 1 else queue[0]
        if isinstance(step, Exception):
            raise step
        return step if isinstance(step, httpx.Response) else httpx.Response(step, text="ok")

    return httpx.MockTransport(handler), seen


def run_request(
    transport: httpx.MockTransport, *, policy: RetryPolicy = POLICY, rng: MaxJitter | None = None
):
    sleeps: list[float] = []

    async def sleep(seconds: float) -> None:
        sleeps.append(seconds)

    async def main() -> httpx.Response:
        http = RetryingClient(
            httpx.AsyncClient(transport=transport), policy=policy, sleep=sleep, rng=rng or MaxJitter()
        )
        try:
            return await http.request("GET", URL, headers={"Authorization": "Bearer header-secret"})
        finally:
            await http.aclose()

    return asyncio.run(main()), sleeps


def test_5xx_is_retried_with_exponential_backoff_capped_at_max_delay():
    transport, seen = scripted(500, 502, 503, 200)
    response, sleeps = run_request(transport)
    assert response.status_code == 200
    assert len(seen) == 4
    assert sleeps == [1.0, 2.0, 3.0]  # 1, 2, then 4 capped at max_delay=3


def test_full_jitter_draws_between_zero_and_the_ceiling():
    class Half(MaxJitter):
        def uniform(self, a: float, b: float) -> float:
            super().uniform(a, b)
            return b / 2

    rng = Half()
    transport, _ = scripted(504, 504, 200)
    _, sleeps = run_request(transport, rng=rng)
    assert rng.ceilings == [1.0, 2.0]
    assert sleeps == [0.5, 1.0]


def test_429_honours_retry_after_seconds():
    transport, seen = scripted(httpx.Response(429, headers={"Retry-After": "7"}), 200)
    response, sleeps = run_request(transport)
    assert response.status_code == 200
    assert sleeps == [7.0]
    assert len(seen) == 2


def test_retry_after_above_max_retry_after_ends_the_call_with_the_resume_time():
    transport, seen = scripted(httpx.Response(429, headers={"Retry-After": "3600"}), 200)
    before = time.time()
    with pytest.raises(WaitTooLong) as info:
        run_request(transport)
    exc = info.value
    assert len(seen) == 1  # not retried, not slept through
    assert exc.wait_seconds == 3600 and not isinstance(exc, QuotaExceeded)
    assert exc.resume_at is not None and abs(exc.resume_at.timestamp() - before - 3600) < 5
    assert str(exc) == (
        "Spotify asked to wait 1.0 h (over the limit of 30 s, SPOTIFY_MAX_RETRY_AFTER_SECONDS) on "
        f"GET /v1/things: resume after {format_resume(exc.resume_at)}"
    )


def test_a_long_retry_after_on_a_503_ends_the_call_too():
    transport, seen = scripted(httpx.Response(503, headers={"Retry-After": "31"}), 200)
    with pytest.raises(WaitTooLong):
        run_request(transport)
    assert len(seen) == 1


@pytest.mark.parametrize(
    "body", [{"error": {"status": 429, "reason": "QUOTA_EXCEEDED"}}, {"reason": "QUOTA_EXCEEDED"}]
)
def test_a_quota_ban_ends_the_call_even_with_a_short_retry_after(body):
    transport, seen = scripted(httpx.Response(429, headers={"Retry-After": "5"}, json=body), 200)
    with pytest.raises(QuotaExceeded) as info:
        run_request(transport)
    assert len(seen) == 1
    assert "(quota exceeded) on GET /v1/things: resume after " in str(info.value)


def test_a_quota_ban_without_retry_after_says_so():
    body = {"error": {"status": 429, "reason": "QUOTA_EXCEEDED"}}
    transport, _ = scripted(httpx.Response(429, json=body), 200)
    with pytest.raises(QuotaExceeded, match="quota exceeded on GET /v1/things without a Retry-After"):
        run_request(transport)


def test_a_quota_ban_on_a_stream_ends_it_too():
    body = {"error": {"status": 429, "reason": "QUOTA_EXCEEDED"}}
    transport, seen = scripted(httpx.Response(429, headers={"Retry-After": "72000"}, json=body), 200)

    async def main() -> None:
        http = RetryingClient(httpx.AsyncClient(transport=transport), policy=POLICY, sleep=_no_sleep)
        async with http.client:
            await http.stream("GET", URL, _status)

    with pytest.raises(QuotaExceeded, match=r"wait 20.0 h \(quota exceeded\)"):
        asyncio.run(main())
    assert len(seen) == 1


async def _status(response: httpx.Response) -> int:
    return response.status_code


def test_resume_times_round_up_to_the_minute():
    from datetime import UTC, datetime

    assert format_resume(datetime(2026, 12, 3, 1, 9, 1, tzinfo=UTC)) == "2026-12-03T01:10Z"
    assert format_resume(datetime(2026, 12, 3, 1, 10, tzinfo=UTC)) == "2026-12-03T01:10Z"


def test_429_without_retry_after_falls_back_to_backoff():
    transport, _ = scripted(429, 429, 200)
    _, sleeps = run_request(transport)
    assert sleeps == [1.0, 2.0]


def test_retry_after_accepts_an_http_date():
    now = time.time()
    header = email.utils.formatdate(now + 12, usegmt=True)
    assert parse_retry_after(header, now=now) == pytest.approx(12, abs=1)
    assert parse_retry_after("garbage") is None
    assert parse_retry_after(None) is None
    assert parse_retry_after("-5") == 0.0


@pytest.mark.parametrize(
    "error",
    [
        httpx.ConnectError("connection refused"),
        httpx.ReadError("connection reset by peer"),
        httpx.RemoteProtocolError("peer closed connection without sending complete message body"),
        httpx.ReadTimeout("timed out"),
        httpx.ConnectTimeout("timed out"),
        httpx.PoolTimeout("no free connection"),
    ],
)
def test_transport_errors_are_retried(error):
    transport, seen = scripted(error, 200)
    response, sleeps = run_request(transport)
    assert response.status_code == 200
    assert len(seen) == 2
    assert sleeps == [1.0]


def test_exhausted_retries_name_method_path_status_and_attempts_but_no_secrets():
    transport, seen = scripted(503)
    with pytest.raises(RetriesExhausted) as info:
        run_request(transport)
    exc = info.value
    assert len(seen) == POLICY.max_attempts
    assert (exc.method, exc.path, exc.status, exc.attempts) == ("GET", "/v1/things", 503, 4)
    message = str(exc)
    assert message == "GET /v1/things failed after 4 attempt(s): last error: status 503 Service Unavailable"
    assert "secret" not in message and "secret" not in repr(exc)


def test_exhausted_transport_errors_keep_the_cause():
    transport, _ = scripted(httpx.ReadTimeout("read timed out"))
    with pytest.raises(RetriesExhausted) as info:
        run_request(transport)
    assert info.value.status is None
    assert str(info.value).endswith("last error: ReadTimeout: read timed out")
    assert isinstance(info.value.__cause__, httpx.ReadTimeout)


@pytest.mark.parametrize("status", [400, 401, 403, 404])
def test_client_errors_are_returned_without_retrying(status):
    transport, seen = scripted(status, 200)
    response, sleeps = run_request(transport)
    assert response.status_code == status
    assert (len(seen), sleeps) == (1, [])


def test_programming_errors_are_not_retried():
    transport, seen = scripted(httpx.UnsupportedProtocol("no such scheme"), 200)
    with pytest.raises(httpx.UnsupportedProtocol):
        run_request(transport)
    assert len(seen) == 1


def test_stream_failing_mid_body_restarts_from_scratch():
    body = b"0123456789" * 1000
    attempts: list[int] = []

    class Reset(httpx.AsyncByteStream):
        async def __aiter__(self):
            yield body[:3000]
            raise httpx.ReadError("connection reset by peer")

    def handler(request: httpx.Request) -> httpx.Response:
        attempts.append(1)
        if len(attempts) == 1:
            return httpx.Response(200, stream=Reset())
        return httpx.Response(200, stream=httpx.ByteStream(body))

    sleeps: list[float] = []

    async def sleep(seconds: float) -> None:
        sleeps.append(seconds)

    async def main() -> bytes:
        http = RetryingClient(
            httpx.AsyncClient(transport=httpx.MockTransport(handler)),
            policy=POLICY,
            sleep=sleep,
            rng=MaxJitter(),
        )
        received: list[bytes] = []

        async def handle(response: httpx.Response) -> bytes:
            received.clear()  # each attempt starts from an empty buffer
            async for chunk in response.aiter_raw():
                received.append(chunk)
            return b"".join(received)

        async with http.client:
            return await http.stream("GET", URL, handle)

    assert asyncio.run(main()) == body
    assert (len(attempts), sleeps) == (2, [1.0])


def test_stream_handler_can_ask_for_a_retry_and_retryable_statuses_are_retried():
    calls: list[int] = []
    transport, seen = scripted(503, 200, 200)

    async def handle(response: httpx.Response) -> int:
        calls.append(response.status_code)
        if len(calls) == 1:
            raise RetryableError("body looked truncated")
        return response.status_code

    async def main() -> int:
        http = RetryingClient(httpx.AsyncClient(transport=transport), policy=POLICY, sleep=_no_sleep)
        async with http.client:
            return await http.stream("GET", URL, handle)

    assert asyncio.run(main()) == 200
    assert calls == [200, 200]  # the 503 never reached the handler
    assert len(seen) == 3


async def _no_sleep(_seconds: float) -> None:
    return None


def test_api_status_error_names_the_path_only():
    exc = ApiStatusError("GET", URL, 418)
    assert str(exc) == "GET /v1/things answered 418 I'm a teapot"


def test_policy_validation_and_explicit_timeouts():
    with pytest.raises(ValueError, match="max_attempts"):
        RetryPolicy(max_attempts=0)
    timeout = make_timeout(60.0)
    assert (timeout.connect, timeout.read, timeout.write, timeout.pool) == (10.0, 60.0, 60.0, 60.0)
    custom = httpx.Timeout(1.0)
    assert make_timeout(custom) is custom
