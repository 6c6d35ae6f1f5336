"""Web API objects as frozen records: fields mapped by name, tolerant of drift, range-checked.

A missing field becomes None. A numeric (or boolean) field of the wrong type, or a number outside
what it can be (a popularity of 3000000000, a count past its column's int32/int64), also becomes
None, and is recorded on the record as a `FieldProblem` naming the kind, id and field (logged as a
warning, counted in the asset metadata): one odd value nulls one field, never the batch. Top-level
fields we do not map (other than links and images) are kept as JSON in `extra`, so new fields are
never lost.
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields
from typing import Any, Generic, TypeVar

log = logging.getLogger(__name__)

# Top-level fields that carry nothing worth keeping (links, artwork, markets).
_IGNORED = frozenset({"external_urls", "href", "type", "uri", "images", "available_markets", "preview_url"})

INT32_MAX = 2**31 - 1
INT64_MAX = 2**63 - 1
POPULARITY = (0, 100)
COUNT32 = (0, INT32_MAX)  # counts stored as int32 (track numbers, totals)
COUNT64 = (0, INT64_MAX)  # counts stored as int64 (followers, durations)
SHARE = (0.0, 1.0)  # audio features that are a confidence or a share


@dataclass(frozen=True)
class FieldProblem:
    """A field whose value was stored as null: the kind and id of the object, the field, why."""

    kind: str
    id: str
    field: str
    problem: str

    def __str__(self) -> str:
        return f"Web API {self.kind} {self.id}: {self.field} {self.problem}; stored as null"


class _Fields:
    """Reads one object's fields for one record, collecting the problems of the values it nulls."""

    def __init__(self, obj: Mapping[str, Any], kind: str, entity_id: str) -> None:
        self.obj, self.kind, self.id = obj, kind, entity_id
        self.problems: list[FieldProblem] = []

    def _null(self, path: str, problem: str) -> None:
        found = FieldProblem(self.kind, self.id, path, problem)
        log.warning("%s", found)
        self.problems.append(found)

    def text(self, path: str) -> str | None:
        value = _at(self.obj, path)
        return value if isinstance(value, str) else None

    def whole(self, path: str, bounds: tuple[int, int]) -> int | None:
        value = _at(self.obj, path)
        if value is None:
            return None
        if isinstance(value, float) and value.is_integer():
            value = int(value)  # 12.0: a JSON encoder's way of writing 12
        if not isinstance(value, int) or isinstance(value, bool):
            self._null(path, f"is {_shown(value)}, not a whole number")
            return None
        low, high = bounds
        if not low <= value <= high:
            self._null(path, f"= {_shown(value)} is outside {low}..{high}")
            return None
        return value

    def number(self, path: str, bounds: tuple[float, float] = (-math.inf, math.inf)) -> float | None:
        value = _at(self.obj, path)
        if value is None:
            return None
        if not isinstance(value, int | float) or isinstance(value, bool):
            self._null(path, f"is {_shown(value)}, not a number")
            return None
        number = float(value)
        low, high = bounds
        if not math.isfinite(number) or not low <= number <= high:
            self._null(path, f"= {_shown(value)} is outside {low:g}..{high:g}")
            return None
        return number

    def flag(self, path: str) -> bool | None:
        value = _at(self.obj, path)
        if value is None or isinstance(value, bool):
            return value
        self._null(path, f"is {_shown(value)}, not true or false")
        return None


def _shown(value: Any) -> str:
    """A value as a warning shows it: its JSON, cut short."""
    text = json.dumps(value) if not isinstance(value, float) or math.isfinite(value) else str(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _at(obj: Any, path: str) -> Any:
    for part in path.split("."):
        obj = obj.get(part) if isinstance(obj, Mapping) else None
    return obj


def _names(obj: Mapping[str, Any], path: str, key: str) -> tuple[str, ...]:
    """`key` of every object in the list at `path` (artists' ids or names), skipping bad entries."""
    items = _at(obj, path)
    if not isinstance(items, list):
        return ()
    return tuple(i[key] for i in items if isinstance(i, Mapping) and isinstance(i.get(key), str))


def _strings(obj: Mapping[str, Any], path: str) -> tuple[str, ...]:
    items = _at(obj, path)
    return tuple(i for i in items if isinstance(i, str)) if isinstance(items, list) else ()


def _first(*values: Any) -> Any:
    """The first value that is not None (None if all are)."""
    return next((v for v in values if v is not None), None)


def _extra(obj: Mapping[str, Any], mapped: frozenset[str]) -> str | None:
    rest = {k: v for k, v in obj.items() if k not in mapped and k not in _IGNORED}
    return json.dumps(rest, sort_keys=True, separators=(",", ":")) if rest else None


# Every record ends with the problems of the values it nulled (never a column: see `columns`).
_PROBLEMS = field(default=(), compare=False, repr=False)


def columns(record: Any) -> dict[str, Any]:
    """A record's fields as table columns (its `problems` left out)."""
    return {f.name: getattr(record, f.name) for f in fields(record) if f.name != "problems"}


@dataclass(frozen=True)
class TrackRecord:
    id: str
    name: str | None
    popularity: int | None
    duration_ms: int | None
    explicit: bool | None
    isrc: str | None
    album_id: str | None
    album_name: str | None
    release_date: str | None
    release_date_precision: str | None
    artist_ids: tuple[str, ...]
    artist_names: tuple[str, ...]
    track_number: int | None
    disc_number: int | None
    extra: str | None
    problems: tuple[FieldProblem, ...] = _PROBLEMS


@dataclass(frozen=True)
class AlbumRecord:
    id: str
    name: str | None
    album_type: str | None
    label: str | None
    upc: str | None
    release_date: str | None
    release_date_precision: str | None
    total_tracks: int | None
    popularity: int | None
    genres: tuple[str, ...]
    artist_ids: tuple[str, ...]
    artist_names: tuple[str, ...]
    extra: str | None
    problems: tuple[FieldProblem, ...] = _PROBLEMS


@dataclass(frozen=True)
class ArtistRecord:
    id: str
    name: str | None
    popularity: int | None
    followers: int | None
    genres: tuple[str, ...]
    extra: str | None
    problems: tuple[FieldProblem, ...] = _PROBLEMS


@dataclass(frozen=True)
class AudioFeaturesRecord:
    id: str
    danceability: float | None
    energy: float | None
    key: int | None
    loudness: float | None
    mode: int | None
    speechiness: float | None
    acousticness: float | None
    instrumentalness: float | None
    liveness: float | None
    valence: float | None
    tempo: float | None
    time_signature: int | None
    duration_ms: int | None
    extra: str | None
    problems: tuple[FieldProblem, ...] = _PROBLEMS


@dataclass(frozen=True)
class PlaylistRecord:
    id: str
    name: str | None
    description: str | None
    owner_id: str | None
    owner_name: str | None
    followers: int | None
    public: bool | None
    collaborative: bool | None
    snapshot_id: str | None
    tracks_total: int | None
    extra: str | None
    problems: tuple[FieldProblem, ...] = _PROBLEMS


def parse_track(o: Mapping[str, Any], entity_id: str) -> TrackRecord:
    mapped = frozenset(
        {"id", "name", "popularity", "duration_ms", "explicit", "external_ids", "album", "artists"}
        | {"track_number", "disc_number", "is_local"}
    )
    f = _Fields(o, "track", entity_id)
    return TrackRecord(
        id=entity_id,
        name=f.text("name"),
        popularity=f.whole("popularity", POPULARITY),
        duration_ms=f.whole("duration_ms", COUNT64),
        explicit=f.flag("explicit"),
        isrc=f.text("external_ids.isrc"),
        album_id=f.text("album.id"),
        album_name=f.text("album.name"),
        release_date=f.text("album.release_date"),
        release_date_precision=f.text("album.release_date_precision"),
        artist_ids=_names(o, "artists", "id"),
        artist_names=_names(o, "artists", "name"),
        track_number=f.whole("track_number", COUNT32),
        disc_number=f.whole("disc_number", COUNT32),
        extra=_extra(o, mapped),
        problems=tuple(f.problems),
    )


def parse_album(o: Mapping[str, Any], entity_id: str) -> AlbumRecord:
    mapped = frozenset(
        {"id", "name", "album_type", "label", "external_ids", "release_date", "release_date_precision"}
        | {"total_tracks", "popularity", "genres", "artists", "tracks", "copyrights"}
    )
    f = _Fields(o, "album", entity_id)
    return AlbumRecord(
        id=entity_id,
        name=f.text("name"),
        album_type=f.text("album_type"),
        label=f.text("label"),
        upc=f.text("external_ids.upc"),
        release_date=f.text("release_date"),
        release_date_precision=f.text("release_date_precision"),
        total_tracks=f.whole("total_tracks", COUNT32),
        popularity=f.whole("popularity", POPULARITY),
        genres=_strings(o, "genres"),
        artist_ids=_names(o, "artists", "id"),
        artist_names=_names(o, "artists", "name"),
        extra=_extra(o, mapped),
        problems=tuple(f.problems),
    )


def parse_artist(o: Mapping[str, Any], entity_id: str) -> ArtistRecord:
    f = _Fields(o, "artist", entity_id)
    return ArtistRecord(
        id=entity_id,
        name=f.text("name"),
        popularity=f.whole("popularity", POPULARITY),
        followers=f.whole("followers.total", COUNT64),
        genres=_strings(o, "genres"),
        extra=_extra(o, frozenset({"id", "name", "popularity", "followers", "genres"})),
        problems=tuple(f.problems),
    )


_FEATURES = tuple(f.name for f in fields(AudioFeaturesRecord) if f.name not in ("id", "extra", "problems"))
# Each audio feature's range: a pitch class (-1: none detected), a mode, beats per bar, or a share.
_INT_FEATURES: dict[str, tuple[int, int]] = {
    "key": (-1, 11),
    "mode": (0, 1),
    "time_signature": (0, INT32_MAX),
    "duration_ms": COUNT64,
}
_FLOAT_FEATURES: dict[str, tuple[float, float]] = {
    "loudness": (-math.inf, math.inf),
    "tempo": (0.0, math.inf),
}


def parse_audio_features(o: Mapping[str, Any], entity_id: str) -> AudioFeaturesRecord:
    f = _Fields(o, "audio_features", entity_id)
    values = {
        n: f.whole(n, _INT_FEATURES[n]) if n in _INT_FEATURES else f.number(n, _FLOAT_FEATURES.get(n, SHARE))
        for n in _FEATURES
    }
    mapped = frozenset({"id", *_FEATURES, "track_href", "analysis_url"})
    return AudioFeaturesRecord(id=entity_id, **values, extra=_extra(o, mapped), problems=tuple(f.problems))


def parse_playlist(o: Mapping[str, Any], entity_id: str) -> PlaylistRecord:
    mapped = frozenset(
        {"id", "name", "description", "owner", "followers", "public", "collaborative", "snapshot_id"}
        | {"tracks", "items"}
    )
    f = _Fields(o, "playlist", entity_id)
    return PlaylistRecord(
        id=entity_id,
        name=f.text("name"),
        description=f.text("description"),
        owner_id=f.text("owner.id"),
        owner_name=f.text("owner.display_name"),
        followers=f.whole("followers.total", COUNT64),
        public=f.flag("public"),
        collaborative=f.flag("collaborative"),
        snapshot_id=f.text("snapshot_id"),
        tracks_total=_first(f.whole("items.total", COUNT32), f.whole("tracks.total", COUNT32)),
        extra=_extra(o, mapped),
        problems=tuple(f.problems),
    )


R = TypeVar("R")
Parser = Callable[[Mapping[str, Any], str], R]


@dataclass(frozen=True)
class BatchResult(Generic[R]):
    """What a lookup of many ids gave: records found, ids the API does not know, ids never asked.

    `invalid` ids are malformed (never sent: the API would refuse the whole batch); `failed` ids were
    in batches that failed (`error` says why), so the caller can keep what succeeded and retry later.
    """

    found: tuple[R, ...] = ()
    not_found: tuple[str, ...] = ()
    invalid: tuple[str, ...] = ()
    failed: tuple[str, ...] = ()
    error: BaseException | None = None
