"""Async client for Spotify's Web API catalog endpoints, built for bulk lookups.

Ids go out in batches of each endpoint's maximum (50 tracks, 20 albums, 50 artists, 100 audio
features; playlists one by one), at most `max_concurrency` at a time, under a client-side rate
budget. Retries (429 honouring `Retry-After`, 5xx, transport errors) come from the shared
`RetryingClient`, a fresh token on a 401 (once, per attempt); every attempt, retries included, passes
through the budget, and a 429 pauses all senders. A `null` entry means "not found", never a failure.

Development-mode apps may not use the batch `tracks`/`albums`/`artists` endpoints (403). In
`mode="auto"` the first batch of such a kind goes out alone, and a 403 switches the kind to
`GET /{kind}/{id}`, one id per request (same concurrency and budget; a 404 means "not found");
`mode="single"` never tries a batch for them, `mode="batch"` never falls back (a 403 is an error).
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections import Counter
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from typing import Any

import httpx

from pipeline.clients.connection import Connection
from pipeline.clients.http import (
    ApiError,
    ApiStatusError,
    RetryPolicy,
    Sleep,
    Uniform,
    parse_retry_after,
    url_path,
)
from pipeline.clients.rate_budget import DEFAULT_WINDOW_SECONDS, RateBudget
from pipeline.clients.session import ApiSession, TokenRejected
from pipeline.clients.web_records import (
    AlbumRecord,
    ArtistRecord,
    AudioFeaturesRecord,
    BatchResult,
    Parser,
    PlaylistRecord,
    R,
    TrackRecord,
    parse_album,
    parse_artist,
    parse_audio_features,
    parse_playlist,
    parse_track,
)

log = logging.getLogger(__name__)

BASE62_ID = re.compile(r"^[0-9A-Za-z]{22}$")
# endpoint -> (key of the array in the answer, maximum ids per request)
BATCH_ENDPOINTS: dict[str, tuple[str, int]] = {
    "tracks": ("tracks", 50),
    "albums": ("albums", 20),
    "artists": ("artists", 50),
    "audio-features": ("audio_features", 100),
}
PLAYLIST_FIELDS = (  # only what we keep: a full playlist answer also carries its first 100 tracks
    "id,name,description,owner(id,display_name),followers.total,public,collaborative,snapshot_id,"
    "tracks.total,items.total"  # `items` for development-mode apps (and only on the app user's own)
)
DEFAULT_RATE_LIMIT = 150  # requests per rolling 30 s; Spotify does not publish its limit
# Kinds that can be looked up one id at a time (`GET /{kind}/{id}`) when the batch endpoint is refused.
SINGLE_KINDS = ("tracks", "albums", "artists")
MODES = ("auto", "batch", "single")  # how tracks, albums and artists are asked for


class Forbidden(ApiError):
    """The endpoint answered 403: this app may not use it (audio features, for apps created late 2024+)."""

    def __init__(self, endpoint: str) -> None:
        self.endpoint = endpoint
        super().__init__(f"the Web API refused {endpoint} (403): not available to this app")


class InvalidAnswer(ApiError):
    """A 200 whose body is not the JSON the endpoint promises."""


def is_spotify_id(value: str) -> bool:
    """A base62 Spotify id (22 characters)."""
    return bool(BASE62_ID.fullmatch(value))


def chunked(ids: Sequence[str], size: int) -> list[tuple[str, ...]]:
    """`ids` in consecutive batches of at most `size`."""
    return [tuple(ids[i : i + size]) for i in range(0, len(ids), size)]


class WebApiClient(ApiSession):
    """Looks up tracks, albums, artists, audio features and playlists; use `async with`."""

    def __init__(
        self,
        connection: Connection,
        *,
        retry: RetryPolicy | None = None,
        rate_limit: int = DEFAULT_RATE_LIMIT,
        rate_window: float = DEFAULT_WINDOW_SECONDS,
        transport: httpx.AsyncBaseTransport | None = None,
        sleep: Sleep = asyncio.sleep,
        rng: Uniform | None = None,
        mode: str = "auto",
    ) -> None:
        if mode not in MODES:
            raise ValueError(f"mode must be one of {', '.join(MODES)}, not {mode!r}")
        super().__init__(
            connection,
            retry=retry,
            max_connections=connection.max_concurrency + 1,
            transport=transport,
            sleep=sleep,
            rng=rng,
        )
        self._base = httpx.URL(self.base_url + "/")
        self.budget = RateBudget(rate_limit, rate_window, sleep=sleep)
        # Every attempt (retries included) passes through the rate budget; no request was sent yet.
        self.http.client.event_hooks = {"request": [self._before_send], "response": [self._after_response]}
        self.requests: Counter[str] = Counter()  # requests sent per endpoint, retries included
        self.mode = mode
        # kind -> "batch" | "single": how it is asked for now (auto: batch until the first 403)
        self._kind_modes = {k: "single" if mode == "single" else "batch" for k in SINGLE_KINDS}
        self._batch_works: set[str] = set()  # kinds whose batch endpoint answered (no probe needed)

    def assume_single(self, endpoint: str) -> None:
        """Ask `endpoint` one id per request from the start (auto mode: a refusal remembered from an
        earlier run, so no batch request is spent on a known 403)."""
        if self.mode == "auto" and endpoint in self._kind_modes:
            self._kind_modes[endpoint] = "single"

    @property
    def kind_modes(self) -> dict[str, str]:
        """How each of tracks, albums and artists is asked for now: "batch" or "single" (one id)."""
        return dict(self._kind_modes)

    @property
    def requests_made(self) -> int:
        """Web API requests sent so far (token requests not included)."""
        return sum(self.requests.values())

    # -- hooks: every attempt to the Web API, retries included, passes through the budget ------
    def _endpoint(self, url: httpx.URL) -> str | None:
        """The endpoint (`tracks`, `playlists`, ...) of a Web API URL; None for other hosts or paths."""
        base = self._base
        if (url.scheme, url.host, url.port) != (base.scheme, base.host, base.port):
            return None
        if not url.path.startswith(base.path):
            return None  # e.g. the token endpoint on the same host: not part of the Web API's budget
        return url.path[len(base.path) :].split("/", 1)[0]

    async def _before_send(self, request: httpx.Request) -> None:
        endpoint = self._endpoint(request.url)
        if endpoint is not None:
            await self.budget.acquire()
            self.requests[endpoint] += 1

    async def _after_response(self, response: httpx.Response) -> None:
        if response.status_code == 429 and self._endpoint(response.request.url) is not None:
            wait = parse_retry_after(response.headers.get("retry-after")) or 1.0
            self.budget.pause(min(wait, self.http.policy.max_retry_after))  # as the retry loop caps it

    # -- public lookups ------------------------------------------------------------------------
    async def tracks(self, ids: Iterable[str]) -> BatchResult[TrackRecord]:
        return await self._batched("tracks", ids, parse_track)

    async def albums(self, ids: Iterable[str]) -> BatchResult[AlbumRecord]:
        return await self._batched("albums", ids, parse_album)

    async def artists(self, ids: Iterable[str]) -> BatchResult[ArtistRecord]:
        return await self._batched("artists", ids, parse_artist)

    async def audio_features(self, ids: Iterable[str]) -> BatchResult[AudioFeaturesRecord]:
        """Audio features; raises `Forbidden` at once (after one request) if the app may not use them."""
        return await self._batched("audio-features", ids, parse_audio_features, probe_first=True)

    async def playlists(self, ids: Iterable[str]) -> BatchResult[PlaylistRecord]:
        """Playlists, one request each (the Web API has no batch endpoint for them)."""
        valid, invalid = _split(ids)

        async def fetch(batch: tuple[str, ...]) -> tuple[list[PlaylistRecord], list[str]]:
            found = await self.playlist(batch[0])
            return ([found], []) if found is not None else ([], [batch[0]])

        return await self._gather([(i,) for i in valid], fetch, invalid)

    async def playlist(self, playlist_id: str) -> PlaylistRecord | None:
        """One playlist, or None when the Web API does not know it (404)."""
        payload = await self._get(f"playlists/{playlist_id}", {"fields": PLAYLIST_FIELDS})
        if payload is None:
            return None
        return parse_playlist(payload, playlist_id)

    async def search_isrc(self, isrc: str) -> tuple[TrackRecord, ...]:
        """Tracks carrying this ISRC (`q=isrc:X`), e.g. to resolve a track whose id is not found."""
        payload = await self._get("search", {"q": f"isrc:{isrc}", "type": "track"})
        items = _at_list(payload, "tracks", "items")
        return tuple(parse_track(i, i["id"]) for i in items if isinstance(i.get("id"), str))

    # -- internals -----------------------------------------------------------------------------
    async def _get(self, path: str, params: Mapping[str, str]) -> dict[str, Any] | None:
        """GET a Web API path; the JSON object, or None on 404. Maps 401/403 and other statuses."""
        url = f"{self.base_url}/{path}"
        endpoint = path.split("/", 1)[0]

        # A token per attempt: one that dies during a Retry-After wait is replaced (once) on resend.
        response = await self.http.request("GET", url, params=params, tokens=self.tokens)
        status = response.status_code
        if status == 401:
            raise TokenRejected("GET", url)
        if status == 404:
            return None
        if status == 403:
            raise Forbidden(endpoint)
        if status != 200:
            raise ApiStatusError("GET", url, status)
        try:
            payload = response.json()
        except ValueError:
            raise InvalidAnswer(f"GET {url_path(url)} answered 200 with a body that is not JSON") from None
        if not isinstance(payload, dict):
            raise InvalidAnswer(f"GET {url_path(url)} answered 200 with JSON that is not an object")
        return payload

    async def _batched(
        self, endpoint: str, ids: Iterable[str], parse: Parser[R], *, probe_first: bool = False
    ) -> BatchResult[R]:
        key, size = BATCH_ENDPOINTS[endpoint]
        valid, invalid = _split(ids)
        if self._kind_modes.get(endpoint) == "single":
            return await self._singles(endpoint, valid, parse, invalid)
        can_fall_back = self.mode == "auto" and endpoint in self._kind_modes
        refused: list[str] = []  # ids of batches refused (403) after the kind fell back to single ids

        async def fetch(batch: tuple[str, ...]) -> tuple[list[R], list[str]]:
            if can_fall_back and self._kind_modes[endpoint] == "single":
                refused.extend(batch)  # another batch was refused meanwhile: ask these one by one
                return [], []
            try:
                payload = await self._get(endpoint, {"ids": ",".join(batch)})
            except Forbidden:
                if not can_fall_back:
                    raise
                self._fall_back(endpoint)
                refused.extend(batch)
                return [], []
            entries = payload.get(key) if payload is not None else None
            if not isinstance(entries, list):
                raise InvalidAnswer(f"GET /{endpoint} answered without a {key!r} array")
            self._batch_works.add(endpoint)
            found, missing = [], []
            for position, entity_id in enumerate(batch):
                entry = entries[position] if position < len(entries) else None
                if isinstance(entry, Mapping):
                    found.append(parse(entry, entity_id))
                else:
                    missing.append(entity_id)  # null: the API does not know this id
            return found, missing

        batches = chunked(valid, size)
        probe = probe_first or (can_fall_back and endpoint not in self._batch_works)
        if probe and batches:
            first = await self._gather(batches[:1], fetch, invalid)
            if isinstance(first.error, Forbidden):
                raise first.error
            if first.error is not None:  # as in `_gather`: after a failure start no more
                rest = BatchResult[R](failed=tuple(i for b in batches[1:] for i in b))
            else:
                rest = await self._gather(batches[1:], fetch, ())
            result = _merge(first, rest)
        else:
            result = await self._gather(batches, fetch, invalid)
        if refused:
            result = _merge(result, await self._singles(endpoint, refused, parse, ()))
        return result

    def _fall_back(self, endpoint: str) -> None:
        """Ask `endpoint`'s kind one id at a time from now on (its batch endpoint answered 403)."""
        if self._kind_modes[endpoint] != "single":
            self._kind_modes[endpoint] = "single"
            log.info("the Web API refused batch /%s (403): asking one id per request", endpoint)

    async def _singles(
        self, endpoint: str, ids: Sequence[str], parse: Parser[R], invalid: Sequence[str]
    ) -> BatchResult[R]:
        """`GET /{endpoint}/{id}` for each id, `max_concurrency` at a time; a 404 means "not found"."""

        async def fetch(batch: tuple[str, ...]) -> tuple[list[R], list[str]]:
            payload = await self._get(f"{endpoint}/{batch[0]}", {})
            return ([parse(payload, batch[0])], []) if payload is not None else ([], [batch[0]])

        return await self._gather([(i,) for i in ids], fetch, invalid)

    async def _gather(
        self,
        batches: list[tuple[str, ...]],
        fetch: Callable[[tuple[str, ...]], Awaitable[tuple[list[R], list[str]]]],
        invalid: Sequence[str],
    ) -> BatchResult[R]:
        """Run `fetch` over the batches, `max_concurrency` at a time; after a failure start no more."""
        semaphore = asyncio.Semaphore(self.max_concurrency)
        found: list[R] = []
        missing: list[str] = []
        failed: list[str] = []
        errors: list[BaseException] = []

        async def run(batch: tuple[str, ...]) -> None:
            async with semaphore:
                if errors:
                    failed.extend(batch)
                    return
                try:
                    records, unknown = await fetch(batch)
                except ApiError as exc:
                    errors.append(exc)
                    failed.extend(batch)
                    return
                found.extend(records)
                missing.extend(unknown)

        await asyncio.gather(*(run(b) for b in batches))
        if errors:
            log.warning("%d ids not fetched after a failed Web API batch: %s", len(failed), errors[0])
        error = errors[0] if errors else None
        return BatchResult(tuple(found), tuple(missing), tuple(invalid), tuple(failed), error)


def _split(ids: Iterable[str]) -> tuple[list[str], tuple[str, ...]]:
    """Distinct ids in first-seen order, split into well-formed and malformed ones."""
    unique = list(dict.fromkeys(ids))
    return [i for i in unique if is_spotify_id(i)], tuple(i for i in unique if not is_spotify_id(i))


def _merge(a: BatchResult[R], b: BatchResult[R]) -> BatchResult[R]:
    failed, error = a.failed + b.failed, a.error or b.error
    return BatchResult(a.found + b.found, a.not_found + b.not_found, a.invalid + b.invalid, failed, error)


def _at_list(payload: Mapping[str, Any] | None, *path: str) -> list[Mapping[str, Any]]:
    node: Any = payload
    for part in path:
        node = node.get(part) if isinstance(node, Mapping) else None
    return [i for i in node if isinstance(i, Mapping)] if isinstance(node, list) else []
