"""Web API objects (track, album, artist, audio features, playlist) built from the synthetic catalog.

Shapes follow the public Web API reference. Everything is a pure function of the catalog, the id
and the day: popularity and follower counts drift deterministically from day to day, so daily
snapshots of them differ while any one day is reproducible.
"""

from __future__ import annotations

import math
import random
from datetime import date
from typing import Any

from pipeline.emulator.catalog import WEB_API_HREF, Album, Artist, Catalog, Track, is_editorial, stable_seed

OPEN_URL = "https://open.spotify.com"
_EPOCH = date(2024, 1, 1).toordinal()  # follower counts grow from here
_GENRES = (
    "indie pop",
    "alt rock",
    "synthpop",
    "dance pop",
    "folk",
    "hip hop",
    "neo soul",
    "house",
    "techno",
    "jazz",
    "singer-songwriter",
    "latin pop",
    "k-pop",
    "afrobeats",
    "metal",
    "ambient",
    "country",
    "r&b",
)
_PLAYLIST_WORDS = ("Chill", "Focus", "Workout", "Road Trip", "Party", "Sleep", "Morning", "Throwback")


def _rng(*parts: object) -> random.Random:
    return random.Random(stable_seed(*parts))


def _drift(key: str, day: date, spread: int) -> int:
    """A deterministic wobble in [-spread, spread] for `key` on `day`."""
    return stable_seed(key, day.isoformat(), "drift") % (2 * spread + 1) - spread


def base_popularity(catalog: Catalog, index: int) -> int:
    """0-100 from the track's Zipf rank (the weight is 1 / rank**1.05): hits near 90, the tail near 15."""
    before = catalog.cum_weights[index - 1] if index else 0.0
    rank = (catalog.cum_weights[index] - before) ** (-1 / 1.05)
    return max(0, min(100, round(90 - 9 * math.log(rank))))


def _clamp(value: int) -> int:
    return max(0, min(100, value))


def _links(kind: str, entity_id: str) -> dict[str, Any]:
    return {
        "external_urls": {"spotify": f"{OPEN_URL}/{kind}/{entity_id}"},
        "href": f"{WEB_API_HREF}/{kind}s/{entity_id}",
        "id": entity_id,
        "type": kind,
        "uri": f"spotify:{kind}:{entity_id}",
    }


def simple_artist(artist: Artist) -> dict[str, Any]:
    return {**_links("artist", artist.id), "name": artist.name}


def _precision(release_date: str) -> str:
    return {4: "year", 7: "month"}.get(len(release_date), "day")


def _album_type(total: int) -> str:
    return "single" if total <= 3 else "album"


def simple_album(album: Album, total_tracks: int) -> dict[str, Any]:
    return {
        **_links("album", album.id),
        "album_type": _album_type(total_tracks),
        "total_tracks": total_tracks,
        "images": [],
        "name": album.name,
        "release_date": album.release_date,
        "release_date_precision": _precision(album.release_date),
        "artists": [simple_artist(a) for a in album.artists],
    }


def track_object(track: Track, popularity: int, day: date, album_tracks: tuple[Track, ...]) -> dict[str, Any]:
    """A full track object; `album_tracks` are the tracks of its album, in order."""
    return {
        **_links("track", track.id),
        "name": track.name,
        "popularity": _clamp(popularity + _drift(track.id, day, 3)),
        "duration_ms": track.duration_ms,
        "explicit": track.explicit,
        "external_ids": {"isrc": track.isrc},
        "disc_number": 1,
        "track_number": album_tracks.index(track) + 1,
        "is_local": False,
        "preview_url": None,
        "album": simple_album(track.album, len(album_tracks)),
        "artists": [simple_artist(a) for a in track.artists],
    }


def album_object(album: Album, tracks: tuple[Track, ...], popularity: int, day: date) -> dict[str, Any]:
    """A full album object with its (first 50) tracks."""
    items = [
        {
            **_links("track", t.id),
            "name": t.name,
            "duration_ms": t.duration_ms,
            "explicit": t.explicit,
            "track_number": n,
            "disc_number": 1,
            "artists": [simple_artist(a) for a in t.artists],
        }
        for n, t in enumerate(tracks[:50], start=1)
    ]
    return {
        **simple_album(album, len(tracks)),
        "label": album.label,
        "external_ids": {"upc": album.upc},
        "genres": [],
        "popularity": _clamp(popularity + _drift(album.id, day, 2)),
        "copyrights": [{"text": f"(P) {album.release_date[:4]} {album.label}", "type": "P"}],
        "tracks": {
            "href": f"{WEB_API_HREF}/albums/{album.id}/tracks",
            "items": items,
            "limit": 50,
            "next": None,
            "offset": 0,
            "previous": None,
            "total": len(tracks),
        },
    }


def artist_object(artist: Artist, popularity: int, day: date) -> dict[str, Any]:
    """A full artist object: genres, popularity and a follower count that grows day by day."""
    rng = _rng(artist.id, "artist")
    genres = sorted(rng.sample(_GENRES, rng.choice((0, 1, 1, 2, 2, 3))))
    base = int(300 * 10 ** (popularity / 28) * (0.5 + rng.random()))
    growth = max(1, base // 3000)
    followers = base + growth * (day.toordinal() - _EPOCH) + _drift(artist.id, day, growth)
    return {
        **_links("artist", artist.id),
        "name": artist.name,
        "popularity": _clamp(popularity + _drift(artist.id, day, 2)),
        "followers": {"href": None, "total": max(0, followers)},
        "genres": genres,
        "images": [],
    }


def audio_features_object(track: Track) -> dict[str, Any]:
    rng = _rng(track.id, "features")
    return {
        "id": track.id,
        "type": "audio_features",
        "uri": track.uri,
        "track_href": f"{WEB_API_HREF}/tracks/{track.id}",
        "analysis_url": f"{WEB_API_HREF}/audio-analysis/{track.id}",
        "duration_ms": track.duration_ms,
        "danceability": round(rng.uniform(0.2, 0.95), 3),
        "energy": round(rng.uniform(0.1, 0.98), 3),
        "key": rng.randrange(12),
        "loudness": round(rng.uniform(-22.0, -2.0), 3),
        "mode": rng.randrange(2),
        "speechiness": round(rng.uniform(0.02, 0.4), 4),
        "acousticness": round(rng.random(), 4),
        "instrumentalness": round(rng.random() ** 4, 5),
        "liveness": round(rng.uniform(0.05, 0.6), 4),
        "valence": round(rng.random(), 3),
        "tempo": round(rng.uniform(62.0, 184.0), 3),
        "time_signature": rng.choice((4, 4, 4, 4, 3, 5)),
    }


def playlist_object(
    catalog: Catalog, index: int, day: date, app_user: str, development: bool = False
) -> dict[str, Any]:
    """A playlist of `catalog` (its `index`-th, by popularity): name, owner, followers, flags.

    Editorial playlists are Spotify's; a deterministic eighth of the others belong to `app_user`,
    the app's own user. The track list is `tracks` (extended quota) or, in development mode,
    `items`, and then only on the playlists the app's user owns.
    """
    playlist_id = catalog.playlists[index]
    rng = _rng(playlist_id, "playlist")
    if rng.random() < 0.2 or is_editorial(playlist_id):
        owner_id, owner_name = "spotify", "Spotify"
    else:
        owner_id = f"user{rng.randrange(10**9):09d}"
        owner_name = f"{rng.choice(('Ana', 'Ben', 'Kai', 'Lena', 'Rui', 'Nia'))} {rng.randrange(100)}"
        if stable_seed(playlist_id, "owned") % 8 == 0:
            owner_id, owner_name = app_user, "Emulator App"
    collaborative = rng.random() < 0.05
    base = int(60_000 / (index + 1) ** 0.9 * (0.6 + rng.random() * 0.8))
    growth = max(1, base // 1500)
    followers = max(0, base + growth * (day.toordinal() - _EPOCH) + _drift(playlist_id, day, growth))
    words = f"{rng.choice(_PLAYLIST_WORDS)} {catalog.licensor.title()} {rng.randrange(1, 99)}"
    week = day.isocalendar()
    playlist = {
        **_links("playlist", playlist_id),
        "name": words,
        "description": f"The best of {catalog.licensor.title()}, updated weekly.",
        "owner": {**_links("user", owner_id), "display_name": owner_name},
        "followers": {"href": None, "total": followers},
        "public": not collaborative and rng.random() < 0.95,
        "collaborative": collaborative,
        "snapshot_id": f"{stable_seed(playlist_id, week.year, week.week):016x}",
        "images": [],
    }
    total = rng.randrange(20, 200)
    if not development:
        playlist["tracks"] = {"href": f"{WEB_API_HREF}/playlists/{playlist_id}/tracks", "total": total}
    elif owner_id == app_user:
        playlist["items"] = {"href": f"{WEB_API_HREF}/playlists/{playlist_id}/items", "total": total}
    return playlist
