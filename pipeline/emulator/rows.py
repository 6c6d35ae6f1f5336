"""The stream rows of a day, produced chunk by chunk, fast, in pure Python.

Speed comes from working column by column: each column of a chunk is drawn in bulk (random bytes
indexing lookup tables of precomputed JSON fragments), lines are joined from cached fragments with
`map`/`zip`, and rows are counted with `Counter`s over integer codes, so a single small Python loop
runs per row. Every count the aggregated report needs is tallied here, from the very
rows written, so the reports reconcile by construction.
"""

from __future__ import annotations

import array
import itertools
import json
import operator
import random
import sys
from collections import Counter, defaultdict
from collections.abc import Iterator
from datetime import date
from functools import lru_cache
from itertools import compress, repeat
from typing import Any

from pipeline.emulator.audience import (
    AGE_BUCKET_NAMES,
    COUNTRY_WEIGHTS,
    GENDERS,
    User,
    age_bucket,
    stream_fragment,
    user_at,
)
from pipeline.emulator.catalog import Catalog

SUB30_MS = 30_000
COUNTRY_CODES = tuple(sorted(COUNTRY_WEIGHTS))  # code -> country; codes sort like the names
_COUNTRY_CODE = {c: i for i, c in enumerate(COUNTRY_CODES)}
_SOURCES = {  # source -> share of streams (playlist sources get a playlist uri)
    "album": 14,
    "artist": 8,
    "collection": 18,
    "others_playlist": 22,
    "own_playlist": 10,
    "chart": 4,
    "radio": 6,
    "search": 7,
    "play_queue": 6,
    "unknown": 5,
}
_PLAYLIST_SOURCES = ("others_playlist", "own_playlist")
_DEVICES = (
    ("smartphone", "android", 34),
    ("smartphone", "ios", 28),
    ("desktop", "windows", 12),
    ("desktop", "macos", 6),
    ("tablet", "ios", 4),
    ("tablet", "android", 2),
    ("web", "linux", 2),
    ("web", "windows", 3),
    ("speaker", "linux", 3),
    ("tv", "android", 2),
    ("car", "android", 2),
    ("game_console", "other", 1),
    ("unknown", "unknown", 1),
)


def demo_code(country: str, gender: str, bucket: str) -> int:
    """An integer for (country, gender, age bucket) that sorts in report order (13 bits)."""
    return (_COUNTRY_CODE[country] * 4 + GENDERS.index(gender)) * 8 + AGE_BUCKET_NAMES.index(bucket)


@lru_cache(maxsize=1)
def _clock() -> tuple[str, ...]:
    """The time part of a timestamp and what follows it, for every second of a day."""
    return tuple(f'{s // 3600:02d}:{s // 60 % 60:02d}:{s % 60:02d}Z",' for s in range(86400))


def _lookup_table(items: list[Any], weights: list[float], bits: int) -> list[Any]:
    """A table of 2**bits slots, each item taking a share of slots proportional to its weight.

    Indexing it with uniform random integers draws from the weights entirely in C (`map` over
    `randbytes`), an order of magnitude faster than `random.choices`.
    """
    table: list[Any] = []
    size, total, done, acc = 1 << bits, sum(weights), 0, 0.0
    for item, weight in zip(items, weights, strict=True):
        acc += weight
        end = round(acc / total * size)
        table.extend(repeat(item, end - done))
        done = end
    return table


def _uints(rng: random.Random, k: int, typecode: str) -> array.array[int]:
    """`k` uniform unsigned 16-bit ("H") or 32-bit ("I") integers, the same on every platform."""
    values = array.array(typecode, rng.randbytes(k * (2 if typecode == "H" else 4)))
    if sys.byteorder == "big":
        values.byteswap()  # random bytes are read little-endian everywhere
    return values


def _draw(rng: random.Random, table: list[Any], k: int) -> list[Any]:
    """`k` draws from a lookup table of 2**16 or 2**20 slots."""
    if len(table) == 1 << 16:
        return list(map(table.__getitem__, _uints(rng, k, "H")))
    shift = 32 - (len(table).bit_length() - 1)
    return list(map(table.__getitem__, map(operator.rshift, _uints(rng, k, "I"), repeat(shift))))


@lru_cache(maxsize=16)
def _track_table(catalog: Catalog) -> list[int]:
    weights = [b - a for a, b in itertools.pairwise((0.0, *catalog.cum_weights))]
    return _lookup_table(list(range(len(catalog.tracks))), weights, 20)


def source_choices(catalog: Catalog) -> tuple[list[tuple[str, str]], list[float]]:
    """Every (source, source_uri) a stream can carry, and its weight (playlist uris by popularity)."""
    choices, weights = [], []
    total_pw = sum(catalog.playlist_weights)
    for source, share in _SOURCES.items():
        if source in _PLAYLIST_SOURCES:
            for pid, pw in zip(catalog.playlists, catalog.playlist_weights, strict=True):
                choices.append((source, f"spotify:playlist:{pid}"))
                weights.append(share * pw / total_pw)
        else:
            choices.append((source, ""))
            weights.append(float(share))
    return choices, weights


def device_choices() -> tuple[list[tuple[str, str, bool, bool, bool, bool]], list[float]]:
    """Every (device, os, cached, shuffle, offline, discovery) a stream can carry, and its weight."""
    choices, weights = [], []
    for device, os_name, share in _DEVICES:
        for bits in range(16):
            cached, shuffle, offline, disc = (bool(bits >> k & 1) for k in range(4))
            if offline and not cached:
                continue  # offline plays are always from the cache
            choices.append((device, os_name, cached, shuffle, offline, disc))
            weights.append(
                share
                * (0.3 if cached else 0.7)
                * (0.45 if shuffle else 0.55)
                * (0.25 if offline else 1.0)
                * (0.1 if disc else 0.9)
            )
    return choices, weights


@lru_cache(maxsize=16)
def _source_table(catalog: Catalog) -> list[str]:
    choices, weights = source_choices(catalog)
    frags = [f'"source":"{source}","source_uri":"{uri}",' for source, uri in choices]
    return _lookup_table(frags, weights, 16)


@lru_cache(maxsize=1)
def _device_table() -> list[str]:
    """Fragments for device, os and the (cached, shuffle, offline, discovery) flags, with weights."""
    choices, weights = device_choices()
    j = json.dumps
    frags = [
        f'"device_type":"{device}","os":"{os_name}","cached":{j(cached)},'
        f'"shuffle":{j(shuffle)},"offline":{j(offline)},"discovery":{j(disc)}}}\n'
        for device, os_name, cached, shuffle, offline, disc in choices
    ]
    return _lookup_table(frags, weights, 16)


class StreamRows:
    """Generates a day's stream rows in time-ordered chunks and tallies them.

    Tallies use integer keys: `streams` (track << 16 | demo code), `skips` (track << 16 | country
    code), `saves` (track << 16 | country code << 1 | premium) and `listens` (track * pool + user).
    """

    def __init__(
        self, seed: int, licensor: str, day: date, pool: int, catalog: Catalog, rng: random.Random
    ) -> None:
        self.seed = seed
        self.licensor = licensor
        self.day = day
        self.pool = pool  # users are indexes 0 .. pool - 1 of the licensor's audience
        self.catalog = catalog
        self.rng = rng
        tracks = catalog.tracks
        self._track_frags = [f'"track_id":"{t.id}","isrc":"{t.isrc}",' for t in tracks]
        self._full = [f'"stream_length":{t.duration_ms},"completion":true,' for t in tracks]
        self._spans = [t.duration_ms - SUB30_MS for t in tracks]
        self._skip_rates = [t.skip_rate for t in tracks]
        # Per user index (lists: indexing is the hot path); filled when the user first streams.
        self.users: list[User | None] = [None] * pool
        self._frag: list[str | None] = [None] * pool
        self._group: list[int] = [0] * pool  # 2 * country code
        self._demo: list[int] = [0] * pool
        self._save: list[int] = [0] * pool  # country code << 1 | premium
        self.streams: Counter[int] = Counter()
        self.skips: Counter[int] = Counter()
        self.saves: Counter[int] = Counter()
        self.listens: set[int] = set()

    def _meet(self, users: set[int]) -> None:
        for u in sorted(users):
            if self._frag[u] is not None:
                continue
            user = self.users[u] = user_at(self.seed, self.licensor, u)
            self._frag[u] = stream_fragment(self.seed, self.licensor, u)
            code = _COUNTRY_CODE[user.country]
            self._group[u] = 2 * code
            self._demo[u] = demo_code(user.country, user.gender, age_bucket(user.birth_year, self.day))
            self._save[u] = code << 1 | (user.access == "premium")

    def chunk(self, rows: int, start_sec: int, end_sec: int) -> Iterator[tuple[bool, str, list[str]]]:
        """Generate `rows` streams between two seconds of the day; yield (sub-30?, country, lines)."""
        rng, rnd, pool = self.rng, self.rng.random, self.pool
        # second = start + x * width >> 32 for uniform 32-bit x
        uniform = _uints(rng, rows, "I")
        scaled = map(operator.rshift, map(operator.mul, uniform, repeat(end_sec - start_sec)), repeat(32))
        secs = sorted(map(operator.add, scaled, repeat(start_sec)))
        tix = _draw(rng, _track_table(self.catalog), rows)
        uix = [int(pool * rnd() ** 2.5) for _ in range(rows)]  # low indexes are heavy listeners
        srcs = _draw(rng, _source_table(self.catalog), rows)
        devs = _draw(rng, _device_table(), rows)
        self._meet(set(uix))
        lens: list[str] = []
        kind: list[int] = []  # 0: sub-30 stream, 1: stream, 2: stream that ended with a save
        lens_add, kind_add = lens.append, kind.append
        skip_rates, spans, full = self._skip_rates, self._spans, self._full
        for t in tix:
            r, s = rnd(), skip_rates[t]
            if r < s:  # one uniform draw decides sub-30 or not, then (rescaled) the length
                lens_add(f'"stream_length":{1000 + int(r / s * 29000)},"completion":false,')
                kind_add(0)
                continue
            v = (r - s) / (1.0 - s)
            if v < 0.55:
                lens_add(full[t])
            else:
                lens_add(
                    f'"stream_length":{SUB30_MS + int((v - 0.55) / 0.45 * spans[t])},"completion":false,'
                )
            kind_add(2 if v * 100 % 1 < 0.035 else 1)  # the low digits of v are uniform too
        head = f'{{"timestamp":"{self.day.isoformat()}T'
        columns = (
            repeat(head),
            map(_clock().__getitem__, secs),
            map(self._track_frags.__getitem__, tix),
            map(self._frag.__getitem__, uix),
            srcs,
            lens,
            devs,
        )
        lines = list(map("".join, zip(*columns)))  # noqa: B905 - `repeat` is endless, the rest align
        sub = list(map(operator.not_, kind))
        buckets: defaultdict[int, list[str]] = defaultdict(list)
        for line, g in zip(lines, map(operator.add, map(self._group.__getitem__, uix), sub), strict=True):
            buckets[g].append(line)  # rows stay in time order within each (country, report) file
        self._tally(tix, uix, kind, sub)
        for g in sorted(buckets):
            yield bool(g & 1), COUNTRY_CODES[g >> 1], buckets[g]

    def listeners(self) -> Counter[int]:
        """Track index -> distinct users with a stream of 30 s or more (the aggregated `listeners`)."""
        return Counter(map(operator.floordiv, self.listens, repeat(self.pool)))

    def _tally(self, tix: list[int], uix: list[int], kind: list[int], sub: list[bool]) -> None:
        shifted = list(map(operator.lshift, tix, repeat(16)))
        self.streams.update(compress(map(operator.or_, shifted, map(self._demo.__getitem__, uix)), kind))
        self.listens.update(compress(map(operator.add, map(operator.mul, tix, repeat(self.pool)), uix), kind))
        skipped = list(compress(range(len(tix)), sub))
        countries = map(
            operator.rshift, map(self._group.__getitem__, map(uix.__getitem__, skipped)), repeat(1)
        )
        self.skips.update(map(operator.or_, map(shifted.__getitem__, skipped), countries))
        saved = list(compress(range(len(tix)), map((2).__eq__, kind)))
        products = map(self._save.__getitem__, map(uix.__getitem__, saved))
        self.saves.update(map(operator.or_, map(shifted.__getitem__, saved), products))
