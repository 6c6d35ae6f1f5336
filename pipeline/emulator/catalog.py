"""A licensor's synthetic music catalog: tracks, albums, artists and playlists.

The catalog is a pure function of (seed, licensor), so every emulator started with the same seed
serves the same tracks, and two licensors never share one. Seeds are derived with SHA-256 (never
Python's salted `hash()`), so they are stable across processes and Python versions. Popularity is
Zipf-like: a few hits take most of the streams, as on the real service.
"""

from __future__ import annotations

import hashlib
import itertools
import random
import string
from dataclasses import dataclass, field
from datetime import date
from functools import lru_cache

from pipeline.spotify_ids import int_to_base62

EDITORIAL_PREFIX = "37i9dQZF1"  # Spotify-owned editorial and algorithmic playlists start so
_EDITORIAL_EVERY = 7  # playlists 0, 7, 14... (by popularity) are editorial
WEB_API_HREF = "https://api.spotify.com/v1"  # fixed, so file bytes do not depend on the emulator's port

_WORDS_A = [
    "Midnight",
    "Golden",
    "Electric",
    "Silent",
    "Broken",
    "Neon",
    "Wild",
    "Velvet",
    "Paper",
    "Crystal",
    "Burning",
    "Hollow",
    "Lucky",
    "Summer",
    "Winter",
    "Falling",
    "Distant",
    "Secret",
    "Lonely",
    "Sweet",
    "Bitter",
    "Endless",
    "Northern",
    "Lost",
    "Purple",
    "Quiet",
]
_WORDS_B = [
    "Echoes",
    "Dreams",
    "Hearts",
    "Lights",
    "Rivers",
    "Roads",
    "Skies",
    "Fires",
    "Waves",
    "Shadows",
    "Stars",
    "Streets",
    "Bones",
    "Ghosts",
    "Wires",
    "Gardens",
    "Mirrors",
    "Horses",
    "Letters",
    "Signals",
    "Oceans",
    "Cities",
    "Hours",
    "Colours",
    "Promises",
    "Machines",
]
_FIRST = [
    "Ana",
    "Ben",
    "Chloe",
    "Diego",
    "Elif",
    "Femi",
    "Greta",
    "Hugo",
    "Ines",
    "Jonas",
    "Kai",
    "Lena",
    "Mateo",
    "Nia",
    "Oskar",
    "Priya",
    "Rui",
    "Sofia",
]
_LAST = [
    "Silva",
    "Novak",
    "Okafor",
    "Lindqvist",
    "Moreau",
    "Tanaka",
    "Rossi",
    "Kowalski",
    "Haddad",
    "Mendes",
    "Costa",
    "Berg",
    "Nakamura",
]
_GENRES_SUFFIX = ("", "", "", " Band", " Collective", " Trio", " & The Wolves", " Club")


def stable_seed(*parts: object) -> int:
    """A 64-bit seed from any values, identical in every process (unlike the built-in `hash`)."""
    digest = hashlib.sha256("\x1f".join(str(p) for p in parts).encode()).digest()
    return int.from_bytes(digest[:8], "big")


def base62_id(rng: random.Random) -> str:
    """A Spotify-style base62 id: a random 128-bit number in 22 characters, so it has a 32-hex gid."""
    return int_to_base62(rng.getrandbits(128))


def _playlist_id(rng: random.Random, index: int) -> str:
    """A playlist id; every 7th (the most popular among them) an editorial `37i9dQZF1...` one."""
    plain = base62_id(rng)
    return EDITORIAL_PREFIX + plain[-13:] if index % _EDITORIAL_EVERY == 0 else plain


def is_editorial(playlist_id: str) -> bool:
    """Whether a playlist is Spotify's own editorial or algorithmic one (by its id)."""
    return playlist_id.startswith(EDITORIAL_PREFIX[:8])


def _upc(rng: random.Random) -> str:
    """A 12-digit UPC-A with a valid check digit."""
    digits = [rng.randrange(10) for _ in range(11)]
    odd = sum(digits[0::2]) * 3 + sum(digits[1::2])
    return "".join(map(str, digits)) + str((10 - odd % 10) % 10)


def _release_date(rng: random.Random) -> str:
    """Mixed precision, as the API reports old catalogue: mostly days, some months or years only."""
    day = date.fromordinal(date(1965, 1, 1).toordinal() + rng.randrange(22000))
    roll = rng.random()
    if roll < 0.80:
        return day.isoformat()
    return f"{day:%Y-%m}" if roll < 0.92 else f"{day:%Y}"


@dataclass(frozen=True, slots=True)
class Artist:
    id: str
    name: str

    @property
    def uri(self) -> str:
        return f"spotify:artist:{self.id}"


@dataclass(frozen=True, slots=True)
class Album:
    id: str
    name: str
    upc: str
    label: str
    release_date: str
    artists: tuple[Artist, ...]

    @property
    def uri(self) -> str:
        return f"spotify:album:{self.id}"


@dataclass(frozen=True, slots=True)
class Track:
    id: str
    name: str
    isrc: str
    album: Album
    artists: tuple[Artist, ...]
    duration_ms: int
    explicit: bool
    skip_rate: float  # the share of this track's plays that end before 30 s

    @property
    def uri(self) -> str:
        return f"spotify:track:{self.id}"


@dataclass(frozen=True, eq=False)  # identity hashing: catalogs key caches and are built once
class Catalog:
    """Everything a licensor distributes, with Zipf-like popularity weights for sampling."""

    licensor: str
    tracks: tuple[Track, ...]
    cum_weights: tuple[float, ...]  # cumulative popularity, aligned with `tracks`
    playlists: tuple[str, ...]
    playlist_weights: tuple[float, ...]
    by_id: dict[str, Track] = field(repr=False, compare=False, default_factory=dict)

    @property
    def albums(self) -> tuple[Album, ...]:
        return tuple(dict.fromkeys(t.album for t in self.tracks))

    @property
    def artists(self) -> tuple[Artist, ...]:
        return tuple(dict.fromkeys(a for t in self.tracks for a in t.artists))


def _artist_name(rng: random.Random) -> str:
    if rng.random() < 0.5:
        return f"{rng.choice(_FIRST)} {rng.choice(_LAST)}"
    return f"The {rng.choice(_WORDS_A)} {rng.choice(_WORDS_B)}{rng.choice(_GENRES_SUFFIX)}"


def _title(rng: random.Random) -> str:
    return f"{rng.choice(_WORDS_A)} {rng.choice(_WORDS_B)}"


@lru_cache(maxsize=32)
def build_catalog(seed: int, licensor: str) -> Catalog:
    """The catalog of `licensor` for `seed`: 2000-4000 tracks on albums by a few hundred artists."""
    rng = random.Random(stable_seed(seed, licensor, "catalog"))
    n_tracks = 2000 + rng.randrange(2000)
    registrant = "".join(rng.choices(string.ascii_uppercase + string.digits, k=3))
    labels = [f"{licensor.title()} {kind}" for kind in ("Records", "Music", "Sounds", "Recordings")]
    artists = [Artist(base62_id(rng), _artist_name(rng)) for _ in range(max(20, n_tracks // 8))]
    base_skip = 0.14 + rng.random() * 0.06  # the licensor's overall sub-30 share: 14-20 %
    tracks: list[Track] = []
    serial = itertools.count(rng.randrange(10000))
    while len(tracks) < n_tracks:
        main = rng.choice(artists)
        album_artists = (main,)
        release = _release_date(rng)
        album = Album(base62_id(rng), _title(rng), _upc(rng), rng.choice(labels), release, album_artists)
        for _ in range(rng.choice((1, 1, 2, 4, 8, 10, 12, 14))):
            feat = (rng.choice(artists),) if rng.random() < 0.15 else ()
            track_artists = album_artists + tuple(a for a in feat if a != main)
            year = release[2:4]
            tracks.append(
                Track(
                    id=base62_id(rng),
                    name=_title(rng),
                    isrc=f"{rng.choice(('US', 'GB', 'DE', 'SE', 'BR', 'FR'))}{registrant}{year}"
                    f"{next(serial) % 100000:05d}",
                    album=album,
                    artists=track_artists,
                    duration_ms=rng.randint(95_000, 330_000),
                    explicit=rng.random() < 0.18,
                    skip_rate=min(0.3, max(0.04, rng.gauss(base_skip, 0.04))),
                )
            )
    tracks = tracks[:n_tracks]
    ranks = list(range(1, n_tracks + 1))
    rng.shuffle(ranks)
    cum_weights = tuple(itertools.accumulate(1.0 / r**1.05 for r in ranks))
    playlists = tuple(_playlist_id(rng, i) for i in range(300))
    playlist_weights = tuple(1.0 / (i + 1) ** 0.9 for i in range(len(playlists)))
    return Catalog(
        licensor=licensor,
        tracks=tuple(tracks),
        cum_weights=cum_weights,
        playlists=playlists,
        playlist_weights=playlist_weights,
        by_id={t.id: t for t in tracks},
    )
