"""The Web API (`/v1/tracks`, `/v1/albums`, `/v1/artists`, `/v1/audio-features`, `/v1/playlists/{id}`,
`/v1/search`), serving the same catalog as the Bulk API.

Ids are the Bulk API's own (`track_id`, `album_uri`, artist uris, the playlists in `source_uri`) for
every configured licensor, so every streamed track resolves and every playlist a stream names exists.
Batch endpoints enforce their maximum number of ids (more, or a malformed id, is a 400) and answer
`null` for ids they do not know. Every served call is recorded (`calls`) so tests can see batch sizes,
and every authorized request is counted per endpoint, batch or single, and status (`count_calls`).

`web_api_mode="development"` (the default: most licensors' apps) serves what such an app gets since
2026: batch `tracks`/`albums`/`artists` and `audio-features` answer 403, objects lack popularity,
followers, label, available markets and `linked_from`, search `limit` is at most 10, a playlist's
track list is `items` and only on playlists the app's user owns, and editorial playlists
(`37i9dQZF...`) answer 404. `"extended"` serves the extended-quota app: everything.
"""

from __future__ import annotations

import re
import threading
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from functools import cached_property
from typing import Any

from pipeline.emulator.accounts import TokenStore
from pipeline.emulator.catalog import Album, Artist, Catalog, Track, build_catalog, is_editorial, stable_seed
from pipeline.emulator.config import EmulatorConfig
from pipeline.emulator.faults import FaultPlan, RequestInfo
from pipeline.emulator.router import Request, Response, Router, api_error, json_response
from pipeline.emulator.webobjects import (
    album_object,
    artist_object,
    audio_features_object,
    base_popularity,
    playlist_object,
    track_object,
)

WEB_API_PATH = "/v1"
BASE62_ID = re.compile(r"^[0-9A-Za-z]{22}$")
# endpoint -> (response key, maximum ids per request)
BATCH_LIMITS = {"tracks": ("tracks", 50), "albums": ("albums", 20), "artists": ("artists", 50)}
BATCH_LIMITS["audio-features"] = ("audio_features", 100)
SEARCH_LIMIT = 20  # the default page size; at most 50 (extended quota) or 10 (development mode)
SEARCH_MAX = {"extended": 50, "development": 10}
BATCH_DENIED = ("tracks", "albums", "artists")  # batch endpoints closed to development-mode apps
# endpoint -> fields a development-mode app no longer gets
REMOVED_FIELDS = {
    "tracks": ("popularity", "available_markets", "linked_from"),
    "albums": ("popularity", "label", "available_markets"),
    "artists": ("popularity", "followers"),
}


@dataclass(frozen=True)
class WebCall:
    """One answered Web API call: the endpoint and the ids it asked for (or the search query)."""

    endpoint: str
    ids: tuple[str, ...]
    batch: bool = True  # `GET /tracks?ids=` rather than `GET /tracks/{id}` (search: False)


class WebIndex:
    """Every licensor's catalog indexed by the ids the Web API is asked about."""

    def __init__(self, catalogs: list[Catalog]) -> None:
        self.tracks: dict[str, tuple[Track, int]] = {}  # id -> (track, base popularity)
        self.album_tracks: defaultdict[str, list[Track]] = defaultdict(list)
        self.albums: dict[str, Album] = {}
        self.artists: dict[str, Artist] = {}
        self.artist_popularity: defaultdict[str, int] = defaultdict(int)
        self.playlists: dict[str, tuple[Catalog, int]] = {}
        self.by_isrc: defaultdict[str, list[Track]] = defaultdict(list)
        for catalog in catalogs:
            for i, track in enumerate(catalog.tracks):
                popularity = base_popularity(catalog, i)
                self.tracks[track.id] = (track, popularity)
                self.album_tracks[track.album.id].append(track)
                self.albums[track.album.id] = track.album
                self.by_isrc[track.isrc].append(track)
                for artist in (*track.artists, *track.album.artists):
                    self.artists[artist.id] = artist
                    self.artist_popularity[artist.id] = max(self.artist_popularity[artist.id], popularity)
            for i, playlist_id in enumerate(catalog.playlists):
                self.playlists[playlist_id] = (catalog, i)

    def album_popularity(self, album_id: str) -> int:
        return max(self.tracks[t.id][1] for t in self.album_tracks[album_id])


@dataclass
class WebAPI:
    """Serves the Web API for the configured licensors. `plan` is read on every request."""

    config: EmulatorConfig
    tokens: TokenStore
    plan: Callable[[], FaultPlan]
    today: Callable[[], date] | None = None  # the day popularity and followers are shown for
    _calls: list[WebCall] = field(default_factory=list)
    _counts: Counter[tuple[str, bool, int]] = field(default_factory=Counter)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def development(self) -> bool:
        return self.config.web_api_mode == "development"

    @cached_property
    def index(self) -> WebIndex:
        return WebIndex([build_catalog(self.config.seed, lic) for lic in self.config.licensors])

    @property
    def calls(self) -> list[WebCall]:
        """Every call that got past validation, in order (a copy)."""
        with self._lock:
            return list(self._calls)

    def clear_calls(self) -> None:
        with self._lock:
            self._calls.clear()
            self._counts.clear()

    def count_calls(
        self, endpoint: str | None = None, *, batch: bool | None = None, status: int | None = None
    ) -> int:
        """Authorized requests answered so far, refused ones included, matching all the given filters.

        `status` is the handler's answer (before transport faults such as a 429 replace it).
        """
        with self._lock:
            counts = list(self._counts.items())
        return sum(
            n
            for (e, b, s), n in counts
            if endpoint in (None, e) and batch in (None, b) and status in (None, s)
        )

    def register(self, router: Router) -> None:
        """Add the Web API's routes to the emulator's route table."""
        for endpoint in BATCH_LIMITS:
            router.add("GET", f"{WEB_API_PATH}/{endpoint}", self._batch_handler(endpoint))
            router.add("GET", f"{WEB_API_PATH}/{endpoint}/(?P<id>[^/]+)", self._single_handler(endpoint))
        router.add("GET", f"{WEB_API_PATH}/playlists/(?P<id>[^/]+)", self._single_handler("playlists"))
        router.add("GET", f"{WEB_API_PATH}/search", self._search)

    # -- objects ------------------------------------------------------------------------------
    def _day(self) -> date:
        return self.today() if self.today else self.config.current_day()

    def _unknown(self, endpoint: str, entity_id: str) -> bool:
        share = self.plan().unknown_share(endpoint)
        return share > 0 and stable_seed(entity_id, "unknown") % 1_000_000 < share * 1_000_000

    def lookup(self, endpoint: str, entity_id: str) -> dict[str, Any] | None:
        """The object `endpoint` answers for `entity_id`, or None when it does not know the id."""
        found = self._object(endpoint, entity_id)
        if found is not None and self.development:
            for name in REMOVED_FIELDS.get(endpoint, ()):
                found.pop(name, None)
        return found

    def _object(self, endpoint: str, entity_id: str) -> dict[str, Any] | None:
        if self._unknown(endpoint, entity_id):
            return None
        index, day = self.index, self._day()
        if endpoint in ("tracks", "audio-features"):
            if entity_id not in index.tracks:
                return None
            track, popularity = index.tracks[entity_id]
            if endpoint == "audio-features":
                return audio_features_object(track)
            return track_object(track, popularity, day, tuple(index.album_tracks[track.album.id]))
        if endpoint == "albums":
            album = index.albums.get(entity_id)
            if album is None:
                return None
            tracks = tuple(index.album_tracks[entity_id])
            return album_object(album, tracks, index.album_popularity(entity_id), day)
        if endpoint == "artists":
            artist = index.artists.get(entity_id)
            return None if artist is None else artist_object(artist, index.artist_popularity[entity_id], day)
        found = index.playlists.get(entity_id)
        if found is None or (self.development and is_editorial(entity_id)):
            return None
        return playlist_object(*found, day, self.config.app_user, self.development)

    # -- handlers -----------------------------------------------------------------------------
    def _guard(self, request: Request, endpoint: str, batch: bool) -> Response | None:
        """The 401 or 403 a request gets before its ids are looked at, or None."""
        info = RequestInfo("webapi", endpoint=endpoint)
        if not self.tokens.authorized(request):
            return api_error(
                401, "Invalid access token", info, {"WWW-Authenticate": 'Bearer error="invalid_token"'}
            )
        if self.plan().forbidden(endpoint):
            return self._count(endpoint, batch, api_error(403, "Forbidden", info))
        if self.development and (endpoint == "audio-features" or (batch and endpoint in BATCH_DENIED)):
            return self._count(endpoint, batch, api_error(403, "Forbidden: not available to this app", info))
        return None

    def _count(self, endpoint: str, batch: bool, response: Response) -> Response:
        with self._lock:
            self._counts[(endpoint, batch, response.status)] += 1
        return response

    def _record(self, endpoint: str, ids: tuple[str, ...], batch: bool) -> None:
        with self._lock:
            self._calls.append(WebCall(endpoint, ids, batch))

    def _batch_handler(self, endpoint: str) -> Callable[[Request], Response]:
        key, limit = BATCH_LIMITS[endpoint]
        info = RequestInfo("webapi", endpoint=endpoint)

        def handle(request: Request) -> Response:
            refused = self._guard(request, endpoint, batch=True)
            return refused or self._count(endpoint, True, answer(request))

        def answer(request: Request) -> Response:
            raw = ",".join(request.query.get("ids", []))
            ids = tuple(part.strip() for part in raw.split(",")) if raw else ()
            if not ids:
                return api_error(400, "invalid request: ids is required", info)
            if len(ids) > limit:
                return api_error(400, f"Too many ids requested: at most {limit}", info)
            if any(not BASE62_ID.fullmatch(i) for i in ids):
                return api_error(400, "Invalid base62 id", info)
            self._record(endpoint, ids, batch=True)
            return json_response(200, {key: [self.lookup(endpoint, i) for i in ids]}, info)

        return handle

    def _single_handler(self, endpoint: str) -> Callable[[Request], Response]:
        info = RequestInfo("webapi", endpoint=endpoint)

        def handle(request: Request) -> Response:
            refused = self._guard(request, endpoint, batch=False)
            return refused or self._count(endpoint, False, answer(request))

        def answer(request: Request) -> Response:
            entity_id = request.params["id"]
            if not BASE62_ID.fullmatch(entity_id):
                return api_error(400, "Invalid base62 id", info)
            self._record(endpoint, (entity_id,), batch=False)
            found = self.lookup(endpoint, entity_id)
            if found is None:
                return api_error(404, "Resource not found", info)
            return json_response(200, found, info)

        return handle

    def _search(self, request: Request) -> Response:
        refused = self._guard(request, "search", batch=False)
        return refused or self._count("search", False, self._search_page(request))

    def _search_page(self, request: Request) -> Response:
        """`?q=isrc:X&type=track` finds tracks by ISRC; any other `q` matches track names."""
        info = RequestInfo("webapi", endpoint="search")
        query = " ".join(request.query.get("q", [])).strip()
        types = {t.strip() for t in ",".join(request.query.get("type", [])).split(",") if t.strip()}
        if not query or not types:
            return api_error(400, "No search query" if not query else "Missing parameter type", info)
        if "track" not in types:
            return api_error(400, "Only type=track is supported by the emulator", info)
        most = SEARCH_MAX[self.config.web_api_mode]
        raw_limit = request.query.get("limit", [str(min(SEARCH_LIMIT, most))])[0]
        limit = int(raw_limit) if raw_limit.isascii() and raw_limit.isdigit() else -1
        if not 1 <= limit <= most:
            return api_error(400, f"Invalid limit: must be between 1 and {most}", info)
        self._record("search", (query,), batch=False)
        if query.lower().startswith("isrc:"):
            tracks = self.index.by_isrc.get(query[5:].strip().upper(), [])
        else:
            needle = query.lower()
            tracks = [t for t, _ in self.index.tracks.values() if needle in t.name.lower()]
        items = [self.lookup("tracks", t.id) for t in tracks[:limit]]
        page = {
            "href": None,
            "items": [item for item in items if item is not None],
            "limit": limit,
            "next": None,
            "offset": 0,
            "previous": None,
            "total": len(tracks),
        }
        return json_response(200, {"tracks": page}, info)
