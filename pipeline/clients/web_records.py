"""Web API objects as frozen records: fields mapped by name, tolerant of drift.

A missing field or a value of the wrong type becomes None rather than an error; top-level fields we
do not map (other than links and images) are kept as JSON in `extra`, so new fields are never lost.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, fields
from typing import Any, Generic, TypeVar

# Top-level fields that carry nothing worth keeping (links, artwork, markets).
_IGNORED = frozenset({"external_urls", "href", "type", "uri", "images", "available_markets", "preview_url"})


def _at(obj: Any, path: str) -> Any:
    for part in path.split("."):
        obj = obj.get(part) if isinstance(obj, Mapping) else None
    return obj


def _str(obj: Mapping[str, Any], path: str) -> str | None:
    value = _at(obj, path)
    return value if isinstance(value, str) else None


def _int(obj: Mapping[str, Any], path: str) -> int | None:
    value = _at(obj, path)
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _float(obj: Mapping[str, Any], path: str) -> float | None:
    value = _at(obj, path)
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def _bool(obj: Mapping[str, Any], path: str) -> bool | None:
    value = _at(obj, path)
    return value if isinstance(value, bool) else None


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


@dataclass(frozen=True)
class ArtistRecord:
    id: str
    name: str | None
    popularity: int | None
    followers: int | None
    genres: tuple[str, ...]
    extra: str | None


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


def parse_track(o: Mapping[str, Any], entity_id: str) -> TrackRecord:
    mapped = frozenset(
        {"id", "name", "popularity", "duration_ms", "explicit", "external_ids", "album", "artists"}
        | {"track_number", "disc_number", "is_local"}
    )
    return TrackRecord(
        id=entity_id,
        name=_str(o, "name"),
        popularity=_int(o, "popularity"),
        duration_ms=_int(o, "duration_ms"),
        explicit=_bool(o, "explicit"),
        isrc=_str(o, "external_ids.isrc"),
        album_id=_str(o, "album.id"),
        album_name=_str(o, "album.name"),
        release_date=_str(o, "album.release_date"),
        release_date_precision=_str(o, "album.release_date_precision"),
        artist_ids=_names(o, "artists", "id"),
        artist_names=_names(o, "artists", "name"),
        track_number=_int(o, "track_number"),
        disc_number=_int(o, "disc_number"),
        extra=_extra(o, mapped),
    )


def parse_album(o: Mapping[str, Any], entity_id: str) -> AlbumRecord:
    mapped = frozenset(
        {"id", "name", "album_type", "label", "external_ids", "release_date", "release_date_precision"}
        | {"total_tracks", "popularity", "genres", "artists", "tracks", "copyrights"}
    )
    return AlbumRecord(
        id=entity_id,
        name=_str(o, "name"),
        album_type=_str(o, "album_type"),
        label=_str(o, "label"),
        upc=_str(o, "external_ids.upc"),
        release_date=_str(o, "release_date"),
        release_date_precision=_str(o, "release_date_precision"),
        total_tracks=_int(o, "total_tracks"),
        popularity=_int(o, "popularity"),
        genres=_strings(o, "genres"),
        artist_ids=_names(o, "artists", "id"),
        artist_names=_names(o, "artists", "name"),
        extra=_extra(o, mapped),
    )


def parse_artist(o: Mapping[str, Any], entity_id: str) -> ArtistRecord:
    return ArtistRecord(
        id=entity_id,
        name=_str(o, "name"),
        popularity=_int(o, "popularity"),
        followers=_int(o, "followers.total"),
        genres=_strings(o, "genres"),
        extra=_extra(o, frozenset({"id", "name", "popularity", "followers", "genres"})),
    )


_FEATURES = tuple(f.name for f in fields(AudioFeaturesRecord) if f.name not in ("id", "extra"))
_INT_FEATURES = frozenset({"key", "mode", "time_signature", "duration_ms"})


def parse_audio_features(o: Mapping[str, Any], entity_id: str) -> AudioFeaturesRecord:
    values = {n: (_int if n in _INT_FEATURES else _float)(o, n) for n in _FEATURES}
    mapped = frozenset({"id", *_FEATURES, "track_href", "analysis_url"})
    return AudioFeaturesRecord(id=entity_id, **values, extra=_extra(o, mapped))


def parse_playlist(o: Mapping[str, Any], entity_id: str) -> PlaylistRecord:
    mapped = frozenset(
        {"id", "name", "description", "owner", "followers", "public", "collaborative", "snapshot_id"}
        | {"tracks", "items"}
    )
    return PlaylistRecord(
        id=entity_id,
        name=_str(o, "name"),
        description=_str(o, "description"),
        owner_id=_str(o, "owner.id"),
        owner_name=_str(o, "owner.display_name"),
        followers=_int(o, "followers.total"),
        public=_bool(o, "public"),
        collaborative=_bool(o, "collaborative"),
        snapshot_id=_str(o, "snapshot_id"),
        tracks_total=_first(_int(o, "items.total"), _int(o, "tracks.total")),
        extra=_extra(o, mapped),
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
