"""Fixtures: the scripted fake API and a client wired to it with recorded (not taken) sleeps."""

from __future__ import annotations

from collections.abc import Callable

import httpx
import pytest

from pipeline.clients.bulk_api import BulkApiClient
from pipeline.clients.http import RetryPolicy
from tests.kits.fake_api import ACCOUNTS_URL, BASE_URL, CLIENT_ID, CLIENT_SECRET, FakeApi, MaxJitter
from tests.kits.settings import split_connection


@pytest.fixture
def api() -> FakeApi:
    return FakeApi()


@pytest.fixture
def sleeps() -> list[float]:
    return []


@pytest.fixture
def make_client(api: FakeApi, sleeps: list[float]) -> Callable[..., BulkApiClient]:
    """Build a client on the fake; sleeps are recorded instead of taken."""

    async def sleep(seconds: float) -> None:
        sleeps.append(seconds)

    def build(**overrides: object) -> BulkApiClient:
        options: dict[str, object] = {
            "base_url": BASE_URL,
            "accounts_url": ACCOUNTS_URL,
            "client_id": CLIENT_ID,
            "client_secret": CLIENT_SECRET,
            "timeout": 5.0,
            "retry": RetryPolicy(max_attempts=3, base_delay=1.0, max_delay=8.0, max_retry_after=30.0),
            "transport": httpx.MockTransport(api.handler),
            "sleep": sleep,
            "rng": MaxJitter(),
        }
        options.update(overrides)
        connection, rest = split_connection(options)
        return BulkApiClient(connection, **rest)  # type: ignore[arg-type]

    return build
