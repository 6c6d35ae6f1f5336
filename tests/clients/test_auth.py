"""Client-credentials tokens: one request for many calls, refresh on 401, secrets never shown."""

from __future__ import annotations

import asyncio
import base64
import logging
from datetime import date

import httpx
import pytest

from pipeline.clients.http import RetryingClient
from pipeline.clients.session import AuthError, ClientCredentials, Credentials, TokenRejected
from pipeline.reports import report_by_name
from tests.kits.fake_api import ACCOUNTS_URL, CLIENT_ID, CLIENT_SECRET, FakeApi, listing, respond

USERS = report_by_name("users")
DAY = date(2026, 11, 20)


def provider(api: FakeApi, *, secret: str = CLIENT_SECRET, clock=None) -> ClientCredentials:
    http = RetryingClient(httpx.AsyncClient(transport=httpx.MockTransport(api.handler)))
    kwargs = {"clock": clock} if clock else {}
    return ClientCredentials(
        http, accounts_url=ACCOUNTS_URL, credentials=Credentials(CLIENT_ID, secret), **kwargs
    )


def users_tree(api: FakeApi) -> None:
    api.route("/acme/enhanced/users", listing("/acme/enhanced/users/2026"))
    api.route("/acme/enhanced/users/2026", listing("/acme/enhanced/users/2026/11"))
    api.route("/acme/enhanced/users/2026/11", listing("/acme/enhanced/users/2026/11/20"))


def test_token_request_is_basic_auth_with_client_credentials_grant(api):
    token = asyncio.run(provider(api).token())
    assert token == "token-1"
    (request,) = api.token_requests
    assert request.method == "POST"
    expected = base64.b64encode(f"{CLIENT_ID}:{CLIENT_SECRET}".encode()).decode()
    assert request.headers["authorization"] == f"Basic {expected}"
    assert request.headers["content-type"] == "application/x-www-form-urlencoded"
    assert request.content == b"grant_type=client_credentials"


def test_concurrent_callers_share_one_token_request(api):
    async def main() -> list[str]:
        tokens = provider(api)
        first = await asyncio.gather(*(tokens.token() for _ in range(25)))
        later = [await tokens.token() for _ in range(5)]
        return first + later

    assert set(asyncio.run(main())) == {"token-1"}
    assert len(api.token_requests) == 1


def test_token_is_refetched_shortly_before_it_expires(api):
    now = [1000.0]
    api.expires_in = 3600

    async def main() -> list[str]:
        tokens = provider(api, clock=lambda: now[0])
        seen = [await tokens.token()]
        now[0] += 3600 - 61  # still outside the 60 s refresh margin
        seen.append(await tokens.token())
        now[0] += 2  # inside the margin: refresh before the server would reject it
        seen.append(await tokens.token())
        return seen

    assert asyncio.run(main()) == ["token-1", "token-1", "token-2"]


def test_invalidate_only_drops_the_token_it_names(api):
    async def main() -> list[str]:
        tokens = provider(api)
        old = await tokens.token()
        tokens.invalidate(old)
        new = await tokens.token()
        tokens.invalidate(old)  # a late 401 for the old token must not throw the new one away
        return [old, new, await tokens.token()]

    assert asyncio.run(main()) == ["token-1", "token-2", "token-2"]


def test_many_bulk_calls_use_one_token(api, make_client):
    users_tree(api)

    async def main() -> None:
        async with make_client() as client:
            await asyncio.gather(*(client.list_files(USERS, "acme", DAY) for _ in range(10)))

    asyncio.run(main())
    assert len(api.token_requests) == 1
    assert len(api.requests) == 30


def test_expired_token_is_refreshed_and_the_request_retried_once(api, make_client):
    users_tree(api)
    original = api.routes["/acme/enhanced/users/2026"][0]

    def expire_then_answer(request: httpx.Request) -> httpx.Response:
        api.revoke_all()  # the server now considers token-1 expired
        return httpx.Response(401, json={"error": {"status": 401, "message": "The access token expired"}})

    api.route("/acme/enhanced/users/2026", expire_then_answer, original)

    async def main():
        async with make_client() as client:
            return await client.list_files(USERS, "acme", DAY)

    files = asyncio.run(main())
    assert [f.uri for f in files] == ["/acme/enhanced/users/2026/11/20"]
    assert len(api.token_requests) == 2
    tokens_used = [r.headers["authorization"] for r in api.requests]
    assert tokens_used == ["Bearer token-1", "Bearer token-1", "Bearer token-2", "Bearer token-2"]


def test_a_persistent_401_is_retried_only_once(api, make_client, sleeps):
    def always_401(request: httpx.Request) -> httpx.Response:
        return httpx.Response(401)

    api.route("/acme/enhanced/users", always_401)

    async def main():
        async with make_client() as client:
            return await client.list_files(USERS, "acme", DAY)

    with pytest.raises(
        TokenRejected, match=r"GET /v1/analytics/acme/enhanced/users rejected the access token"
    ):
        asyncio.run(main())
    assert len(api.requests) == 2
    assert len(api.token_requests) == 2
    assert sleeps == []


def test_rejected_credentials_give_a_clear_error_without_the_secret(api, make_client, caplog):
    caplog.set_level(logging.DEBUG)

    async def main():
        async with make_client(client_secret="wrong-secret-value-xyz") as client:
            assert "wrong-secret-value-xyz" not in repr(client) + repr(client.tokens)
            return await client.list_files(USERS, "acme", DAY)

    with pytest.raises(AuthError) as info:
        asyncio.run(main())
    assert str(info.value) == "Spotify Accounts rejected the client credentials (invalid_client)"
    assert len(api.token_requests) == 1  # a credentials error is not retried
    shown = str(info.value) + repr(info.value) + caplog.text + repr(info.value.__cause__)
    assert "wrong-secret-value-xyz" not in shown
    assert CLIENT_SECRET not in shown


def test_401_from_accounts_without_a_body_is_also_invalid_client(api):
    api.accounts_replies.append(respond(401))
    with pytest.raises(AuthError, match=r"rejected the client credentials \(invalid_client\)"):
        asyncio.run(provider(api).token())


def test_other_accounts_refusals_name_only_a_safe_error_code(api):
    api.accounts_replies.append(respond(400, json={"error": "unsupported_grant_type", "token": "x"}))
    with pytest.raises(AuthError) as info:
        asyncio.run(provider(api).token())
    assert str(info.value) == (
        "Spotify Accounts refused the token request with status 400 (unsupported_grant_type)"
    )


def test_a_token_response_without_access_token_is_an_auth_error(api):
    api.accounts_replies.append(respond(200, json={"token_type": "Bearer"}))
    with pytest.raises(AuthError, match="without an access_token"):
        asyncio.run(provider(api).token())


def test_missing_credentials_fail_before_any_request(api):
    with pytest.raises(AuthError, match="SPOTIFY_CLIENT_ID and SPOTIFY_CLIENT_SECRET"):
        asyncio.run(provider(api, secret="").token())
    assert api.token_requests == []


def test_secrets_are_not_in_reprs(api):
    creds = Credentials(CLIENT_ID, CLIENT_SECRET)
    assert CLIENT_SECRET not in repr(creds)
    tokens = provider(api)
    asyncio.run(tokens.token())
    assert "token-1" not in repr(tokens) and CLIENT_SECRET not in repr(tokens)
    assert "token-1" not in repr(tokens._token)


def test_a_token_that_expires_during_backoff_is_replaced_on_the_next_attempt(api, make_client, sleeps):
    """429s whose Retry-After outlives the token: each attempt takes a token, a 401 swaps it at once."""
    users_tree(api)
    original = api.routes["/acme/enhanced/users/2026"][0]

    def rate_limited_then_expire(request: httpx.Request) -> httpx.Response:
        api.revoke_all()  # the token dies while the client waits out the Retry-After
        return httpx.Response(429, headers={"Retry-After": "2"})

    api.route("/acme/enhanced/users/2026", rate_limited_then_expire, rate_limited_then_expire, original)

    async def main():
        async with make_client() as client:
            return await client.list_files(USERS, "acme", DAY)

    files = asyncio.run(main())
    assert [f.uri for f in files] == ["/acme/enhanced/users/2026/11/20"]
    assert sleeps == [2.0, 2.0]  # both 429s were honoured; the 401s cost no sleep and no attempt
    tokens_used = [r.headers["authorization"].removeprefix("Bearer ") for r in api.requests]
    # root, 429 (token-1 dies), 401, 429 (token-2 dies), 401, 200, month listing
    assert tokens_used == ["token-1", "token-1", "token-1", "token-2", "token-2", "token-3", "token-3"]
    assert [api.requests[i].url.path.endswith("/2026") for i in range(1, 6)] == [True] * 5
