"""The Web API client over real HTTP: batch sizes, null entries, 403, 429 bursts and the rate budget."""

from __future__ import annotations

import asyncio
import math
import time

import httpx
import pytest

from pipeline.clients import Forbidden, RateBudget
from pipeline.emulator.catalog import build_catalog
from tests.kits.web_api import web_client

ACME = build_catalog(42, "acme")
UNKNOWN = "0" * 22


async def _call(emu, method: str, ids, **client_options):
    async with web_client(emu, **client_options) as client:
        result = await getattr(client, method)(ids)
    return result, client


def test_batches_use_each_endpoints_maximum(emulator):
    emulator.web.clear_calls()
    tracks = [t.id for t in ACME.tracks[:123]]
    albums = list(dict.fromkeys(t.album.id for t in ACME.tracks))[:45]
    artists = [a.id for a in ACME.artists[:51]]
    cases = (
        ("tracks", tracks, "tracks", [50, 50, 23]),
        ("albums", albums, "albums", [20, 20, 5]),
        ("artists", artists, "artists", [50, 1]),
        (
            "audio_features",
            tracks * 2 + [t.id for t in ACME.tracks[123:250]],
            "audio-features",
            [100, 100, 50],
        ),
    )
    for method, ids, endpoint, sizes in cases:
        emulator.web.clear_calls()
        result, client = asyncio.run(_call(emulator, method, ids))
        calls = [c for c in emulator.web.calls if c.endpoint == endpoint]
        assert sorted((len(c.ids) for c in calls), reverse=True) == sizes, method
        assert client.requests_made == len(sizes)
        assert client.kind_modes.get(endpoint, "batch") == "batch"  # an extended app: never one by one
        assert len(result.found) == len(set(ids)) and not result.not_found and result.error is None
        assert {r.id for r in result.found} == set(ids)  # duplicates were asked once


def test_null_entries_are_not_found_and_malformed_ids_never_sent(emulator):
    emulator.web.clear_calls()
    ids = [ACME.tracks[0].id, UNKNOWN, "spotify:track:x", ACME.tracks[1].id]
    result, _ = asyncio.run(_call(emulator, "tracks", ids))
    assert [r.id for r in result.found] == [ids[0], ids[3]]
    assert result.not_found == (UNKNOWN,) and result.invalid == ("spotify:track:x",)
    assert result.found[0].name == ACME.tracks[0].name
    assert result.found[0].artist_names == tuple(a.name for a in ACME.tracks[0].artists)
    assert [c.ids for c in emulator.web.calls] == [(ids[0], UNKNOWN, ids[3])]
    playlists, _ = asyncio.run(_call(emulator, "playlists", [ACME.playlists[0], UNKNOWN]))
    assert [p.id for p in playlists.found] == [ACME.playlists[0]] and playlists.not_found == (UNKNOWN,)
    assert playlists.found[0].owner_id and playlists.found[0].followers is not None


def test_audio_features_403_raises_forbidden_after_one_request(make_emulator):
    emu = make_emulator("forbidden")
    with pytest.raises(Forbidden):
        asyncio.run(_call(emu, "audio_features", [t.id for t in ACME.tracks[:450]]))
    assert emu.count(path_prefix="/v1/audio-features") == 1


def test_a_429_burst_is_survived_with_requests_bounded(make_emulator):
    emu = make_emulator("rate_limit:scope=webapi,count=6,retry_after=1")
    ids = [t.id for t in ACME.tracks[:400]]  # 8 batches
    started = time.monotonic()
    # mode="batch": all 8 batches go out together (auto mode sends the first alone, as a 403 probe)
    result, client = asyncio.run(_call(emu, "tracks", ids, mode="batch"))
    assert result.error is None and len(result.found) == 400
    web = [s for m, p, s in emu.request_log if p.startswith("/v1/") and not p.startswith("/v1/analytics")]
    assert web.count(429) == 6 and web.count(200) == 8
    assert len(web) == client.requests_made == 8 + 6  # each 429 cost exactly one extra request
    assert client.budget.pauses >= 1  # every sender waited out Retry-After, not only the one refused
    assert time.monotonic() - started < 15


def test_rate_budget_spaces_requests_over_the_rolling_window():
    now = [0.0]
    sends: list[float] = []

    async def sleep(seconds: float) -> None:
        now[0] += seconds

    async def run() -> None:
        budget = RateBudget(5, 30.0, clock=lambda: now[0], sleep=sleep)
        for _ in range(12):
            await budget.acquire()
            sends.append(now[0])
            now[0] += 1.0  # each request takes a second
        budget.pause(10.0)
        paused_at = now[0]
        await budget.acquire()
        sends.append(now[0] - paused_at)

    asyncio.run(run())
    assert sends[:5] == [0, 1, 2, 3, 4]
    assert sends[5:10] == [30, 31, 32, 33, 34]  # the sixth waits until the first leaves the window
    assert sends[10:12] == [60, 61]
    window_counts = [sum(1 for s in sends[:12] if t <= s < t + 30) for t in sends[:12]]
    assert max(window_counts) <= 5
    assert math.isclose(sends[12], 10.0)  # a 429 pause holds the next sender


def test_a_small_budget_slows_a_real_run_down(emulator):
    ids = [t.id for t in ACME.tracks[:300]]  # 6 batches, budget 3 per second
    started = time.monotonic()
    result, client = asyncio.run(_call(emulator, "tracks", ids, rate_limit=3, rate_window=1.0))
    assert len(result.found) == 300 and client.requests_made == 6
    assert time.monotonic() - started >= 0.9  # the second three waited for the window
    assert client.budget.waited > 0


class CountingTransport(httpx.AsyncHTTPTransport):
    """A real HTTP transport that records the most requests in flight at once."""

    def __init__(self) -> None:
        super().__init__()
        self.in_flight = self.peak = 0

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.in_flight += 1
        self.peak = max(self.peak, self.in_flight)
        try:
            response = await super().handle_async_request(request)
            await response.aread()
            return response
        finally:
            self.in_flight -= 1


def test_concurrency_is_bounded(make_emulator):
    emu = make_emulator("slow:scope=webapi,count=0,delay=0.1")  # every request takes 0.1 s
    transport = CountingTransport()
    ids = [t.id for t in ACME.tracks[:500]]  # 10 batches
    started = time.monotonic()
    result, client = asyncio.run(_call(emu, "tracks", ids, max_concurrency=3, transport=transport))
    assert len(result.found) == 500 and client.requests_made == 10
    assert transport.peak == 3  # never more than max_concurrency, and it did overlap
    assert time.monotonic() - started >= 0.35  # 10 requests of 0.1 s, 3 at a time: 4 rounds


def test_an_expired_token_is_refreshed_once_and_the_call_succeeds(make_emulator):
    emu = make_emulator("token_expiry:ttl=0.3")

    async def run():
        async with web_client(emu) as client:
            first = await client.tracks([ACME.tracks[0].id])
            await asyncio.sleep(0.4)  # the token dies server-side while the client still trusts it
            second = await client.artists([ACME.tracks[0].artists[0].id])
            return first, second, client

    first, second, client = asyncio.run(run())
    assert len(first.found) == 1 and len(second.found) == 1 and second.error is None
    assert client.tokens.token_requests == 2
    assert [s for _, p, s in emu.request_log if p == "/v1/artists"] == [401, 200]
