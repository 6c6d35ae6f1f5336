"""Labelled artificial-streaming patterns, and the genuine look-alikes that must stay quiet.

Off unless a run asks (`EmulatorConfig.fraud`, `spotify-bulk demo --with-fraud`). Each pattern
adds stream rows to a day the way the normal generator writes them and adds its counts to the
day's tallies, so the aggregated report, users and tracks still reconcile with the stream rows.
Who and what each pattern touches is a pure function of (seed, licensor, pattern, first day):
`labels` gives it back for evaluation, no file needed.

Frauds: `bot_farm` (new accounts looping one track with 31-34 s plays, one region and device, no
source), `playlist_farm` (new accounts looping three tracks through a throwaway playlist),
`lockstep_ring` (older accounts each streaming most of the same 20 tracks a few times).
Hard negatives (real listeners of the audience): `super_fan` (one old account looping one track
all day), `sleep_music` (many listeners playing one ambient track for hours at night),
`editorial_spike` (hundreds of listeners through an editorial playlist), `release_day`.
"""

from __future__ import annotations

import itertools
import random
from collections import Counter
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import date

from pipeline.emulator.audience import User, age_bucket, regions, stream_fragment, user_at
from pipeline.emulator.catalog import Catalog, base62_id, stable_seed
from pipeline.emulator.rows import COUNTRY_CODES, demo_code

FRAUDS = ("bot_farm", "playlist_farm", "lockstep_ring")
NEGATIVES = ("super_fan", "sleep_music", "editorial_spike", "release_day")
PATTERNS = FRAUDS + NEGATIVES
# pattern -> (rarely streamed tracks, hits): frauds mostly farm their own uploads, and some ride a
# hit, where they make a smaller share of its day; the genuine patterns use popular-enough tracks
_TRACKS = {"bot_farm": (1, 1), "playlist_farm": (3, 0), "lockstep_ring": (15, 5), "release_day": (1, 0),
           "super_fan": (0, 1), "sleep_music": (0, 1), "editorial_spike": (0, 1)}  # fmt: skip


@dataclass(frozen=True)
class FraudPlan:
    """Which patterns a run injects, from `start` on (None: every day it serves)."""

    patterns: tuple[str, ...] = ()
    start: date | None = None

    def __post_init__(self) -> None:
        unknown = sorted(set(self.patterns) - set(PATTERNS))
        if unknown:
            raise ValueError(f"unknown fraud pattern(s) {', '.join(unknown)}: expected {', '.join(PATTERNS)}")

    @classmethod
    def everything(cls, start: date | None = None) -> FraudPlan:
        return cls(PATTERNS, start)

    @property
    def token(self) -> str:
        """The plan in one string ("" when off): part of a day's cache key."""
        if not self.patterns:
            return ""
        names = "+".join(p for p in PATTERNS if p in self.patterns)
        return f"{names}@{self.start.isoformat()}" if self.start else names

    @classmethod
    def from_token(cls, token: str) -> FraudPlan:
        if not token:
            return cls()
        names, _, start = token.partition("@")
        return cls(tuple(names.split("+")), date.fromisoformat(start) if start else None)

    def active(self, day: date) -> tuple[str, ...]:
        return self.patterns if self.start is None or day >= self.start else ()


@dataclass(frozen=True)
class Label:
    """What one pattern did on a day: its tracks and listeners, and whether it is fraud."""

    pattern: str
    fraud: bool
    track_ids: tuple[str, ...]
    user_ids: tuple[str, ...]


@dataclass
class Injection:
    """A day's injected rows, by country, and their counts in `StreamRows`' tally keys."""

    lines: dict[str, list[str]] = field(default_factory=dict)
    users: dict[str, User] = field(default_factory=dict)
    streams: Counter[int] = field(default_factory=Counter)
    listens: set[tuple[int, str]] = field(default_factory=set)


class CombinedTallies:
    """The normal rows' tallies plus an injection's (the `DayTallies` the per-day reports read)."""

    def __init__(self, rows: object, injection: Injection) -> None:
        self.rows = rows
        self.streams: Mapping[int, int] = Counter(rows.streams) + injection.streams  # type: ignore[attr-defined]
        self.skips: Mapping[int, int] = rows.skips  # type: ignore[attr-defined]
        self.saves: Mapping[int, int] = rows.saves  # type: ignore[attr-defined]
        self._injected = injection.listens

    def listeners(self) -> Counter[int]:
        pool, users = self.rows.pool, self.rows.users  # type: ignore[attr-defined]
        pairs = {(key // pool, users[key % pool].user_id) for key in self.rows.listens}  # type: ignore[attr-defined]
        return Counter(track for track, _ in pairs | self._injected)


def _tracks(seed: int, catalog: Catalog) -> dict[str, list[int]]:
    """Each pattern's tracks (catalog indexes), distinct, the same every day: rarely streamed ones
    (the bottom half by popularity) and hits (frauds: the top 2 %; the genuine patterns: the top 10 %)."""
    rng = random.Random(stable_seed(seed, catalog.licensor, "fraud-tracks"))
    n = len(catalog.tracks)
    weights = [b - a for a, b in itertools.pairwise((0.0, *catalog.cum_weights))]
    by_weight = sorted(range(n), key=lambda i: weights[i], reverse=True)
    hits, known, rare = by_weight[: n // 50], by_weight[n // 50 : n // 10], by_weight[n // 2 :]
    for pool in (hits, known, rare):
        rng.shuffle(pool)
    out: dict[str, list[int]] = {}
    for pattern in PATTERNS:
        few, popular = _TRACKS[pattern]
        liked = hits if pattern in FRAUDS else known
        out[pattern] = [rare.pop() for _ in range(few)] + [liked.pop() for _ in range(popular)]
    return out


def _account(rng: random.Random, country: str, region: str, created: int) -> User:
    return User(f"{rng.getrandbits(128):032x}", rng.randrange(1985, 2006), rng.choice(("female", "male")),
                country, region, "free", created)  # fmt: skip


def _farm_accounts(seed: int, licensor: str, pattern: str, first: date, count: int, ages: tuple[int, int],
                   countries: tuple[str, ...]) -> list[User]:  # fmt: skip
    """Accounts of a farm: made before its first day, ages in `ages` (days) on that day."""
    rng = random.Random(stable_seed(seed, licensor, pattern, "accounts", first.isoformat()))
    out = []
    for i in range(count):
        country = countries[i % len(countries)]
        place = regions(country)[0]
        out.append(_account(rng, country, place, first.toordinal() - rng.randint(*ages)))
    return out


def _audience(seed: int, licensor: str, pattern: str, pool: int, count: int, day: date) -> list[int]:
    """Indexes of real listeners (the licensor's audience) a genuine pattern involves that day."""
    rng = random.Random(stable_seed(seed, licensor, pattern, "audience", day.isoformat()))
    return rng.sample(range(pool), min(count, pool))


class _Writer:
    """Writes rows in the normal generator's line format and tallies them."""

    def __init__(self, seed: int, licensor: str, day: date, catalog: Catalog, out: Injection) -> None:
        self.seed, self.licensor, self.day, self.catalog, self.out = seed, licensor, day, catalog, out

    def play(self, track: int, user: User, frag: str, second: int, length_ms: int, source: str, uri: str,
             device: tuple[str, str]) -> None:  # fmt: skip
        t = self.catalog.tracks[track]
        second = min(max(second, 0), 86_399)
        complete = length_ms >= t.duration_ms
        length_ms = min(length_ms, t.duration_ms)
        clock = f"{second // 3600:02d}:{second // 60 % 60:02d}:{second % 60:02d}"
        line = (
            f'{{"timestamp":"{self.day.isoformat()}T{clock}Z",'
            f'"track_id":"{t.id}","isrc":"{t.isrc}",{frag}"source":"{source}","source_uri":"{uri}",'
            f'"stream_length":{length_ms},"completion":{"true" if complete else "false"},'
            f'"device_type":"{device[0]}","os":"{device[1]}","cached":false,"shuffle":false,'
            f'"offline":false,"discovery":false}}\n'
        )
        self.out.lines.setdefault(user.country, []).append(line)
        self.out.users[user.user_id] = user
        self.out.streams[
            track << 16 | demo_code(user.country, user.gender, age_bucket(user.birth_year, self.day))
        ] += 1
        self.out.listens.add((track, user.user_id))


def _frag(user: User) -> str:
    return (
        f'"user_id":"{user.user_id}","country":"{user.country}","region_code":"{user.region_code}",'
        f'"access":"{user.access}",'
    )


def _first_day(plan: FraudPlan, day: date) -> date:
    return plan.start or day


def _participants(
    seed: int, licensor: str, day: date, plan: FraudPlan, pattern: str, pool: int
) -> list[User]:
    first = _first_day(plan, day)
    if pattern == "bot_farm":
        rng = random.Random(stable_seed(seed, licensor, pattern, "country"))
        return _farm_accounts(seed, licensor, pattern, first, 25, (1, 20), (rng.choice(COUNTRY_CODES),))
    if pattern == "playlist_farm":
        return _farm_accounts(seed, licensor, pattern, first, 30, (3, 25), ("US", "BR", "IN"))
    if pattern == "lockstep_ring":
        return _farm_accounts(seed, licensor, pattern, first, 15, (60, 400), ("DE", "PL"))
    count = {"super_fan": 1, "sleep_music": 120, "editorial_spike": 400, "release_day": 300}[pattern]
    return [user_at(seed, licensor, i) for i in _audience(seed, licensor, pattern, pool, count, day)]


def labels(seed: int, licensor: str, day: date, plan: FraudPlan, catalog: Catalog, pool: int) -> list[Label]:
    """What each active pattern injects on `day` (`pool`: the audience size, `rows_per_day // 3`, >= 64)."""
    tracks = _tracks(seed, catalog)
    return [
        Label(
            pattern,
            pattern in FRAUDS,
            tuple(catalog.tracks[t].id for t in tracks[pattern]),
            tuple(u.user_id for u in _participants(seed, licensor, day, plan, pattern, pool)),
        )
        for pattern in plan.active(day)
    ]


def inject(seed: int, licensor: str, day: date, plan: FraudPlan, catalog: Catalog, pool: int) -> Injection:
    """The rows every active pattern adds to `day`, deterministic in its arguments."""
    out = Injection()
    writer = _Writer(seed, licensor, day, catalog, out)
    tracks = _tracks(seed, catalog)
    for pattern in plan.active(day):
        rng = random.Random(stable_seed(seed, licensor, pattern, day.isoformat()))
        users = _participants(seed, licensor, day, plan, pattern, pool)
        for user, frag in _frags(seed, licensor, pattern, users, day, pool):
            for args in _PLAYS[pattern](rng, tracks[pattern], catalog, user):
                writer.play(*args[:1], user, frag, *args[1:])
    return out


def _frags(
    seed: int, licensor: str, pattern: str, users: list[User], day: date, pool: int
) -> Iterator[tuple[User, str]]:
    if pattern in FRAUDS:
        yield from ((u, _frag(u)) for u in users)
        return
    indexes = _audience(seed, licensor, pattern, pool, len(users), day)
    yield from ((u, stream_fragment(seed, licensor, i)) for u, i in zip(users, indexes, strict=True))


Play = tuple[int, int, int, str, str, tuple[str, str]]  # track, second, length ms, source, uri, device


def _bot_farm(rng: random.Random, tracks: list[int], catalog: Catalog, user: User) -> Iterator[Play]:
    """Every account loops the farm's own track; about half loop the hit it rides too."""
    for track in tracks[: 1 + (rng.random() < 0.5)]:
        second, gap = rng.randrange(86_400 - 20 * 40), rng.randint(36, 40)
        for _ in range(rng.randint(10, 20)):  # back to back, like a script: clockwork spacing
            yield track, second, rng.randint(31_000, 34_000), "", "", ("smartphone", "android")
            second += gap


def _playlist_farm(rng: random.Random, tracks: list[int], catalog: Catalog, user: User) -> Iterator[Play]:
    uri = f"spotify:playlist:{base62_id(random.Random(stable_seed(catalog.licensor, 'throwaway')))}"
    device = rng.choice((("smartphone", "android"), ("desktop", "windows"), ("smartphone", "ios")))
    for track in tracks:
        for _ in range(rng.randint(8, 12)):
            yield track, rng.randrange(86_400), rng.randint(31_000, 60_000), "others_playlist", uri, device


def _lockstep_ring(rng: random.Random, tracks: list[int], catalog: Catalog, user: User) -> Iterator[Play]:
    for track in tracks:
        if rng.random() < 0.85:
            for _ in range(rng.randint(1, 3)):
                yield (
                    track,
                    rng.randrange(86_400),
                    rng.randint(40_000, 150_000),
                    "unknown",
                    "",
                    ("desktop", "windows"),
                )


def _loop(rng: random.Random, track: int, catalog: Catalog, start: int, plays: int, source: str, uri: str,
          device: tuple[str, str]) -> Iterator[Play]:  # fmt: skip
    """Repeat-one: full plays back to back (evenly spaced: the spacing of a real loop too)."""
    duration = catalog.tracks[track].duration_ms
    second = start
    for _ in range(plays):
        if second > 86_399:
            return
        yield track, second, duration, source, uri, device
        second += duration // 1000 + rng.randint(0, 2)


def _super_fan(rng: random.Random, tracks: list[int], catalog: Catalog, user: User) -> Iterator[Play]:
    yield from _loop(
        rng, tracks[0], catalog, 9 * 3600, rng.randint(40, 80), "collection", "", ("smartphone", "ios")
    )


def _sleep_music(rng: random.Random, tracks: list[int], catalog: Catalog, user: User) -> Iterator[Play]:
    uri = f"spotify:playlist:{catalog.playlists[rng.randrange(len(catalog.playlists))]}"
    source, uri = rng.choice((("collection", ""), ("others_playlist", uri), ("own_playlist", uri)))
    device = rng.choice((("speaker", "linux"), ("smartphone", "android"), ("smartphone", "ios")))
    yield from _loop(
        rng, tracks[0], catalog, rng.randrange(0, 3 * 3600), rng.randint(20, 60), source, uri, device
    )


def _editorial_spike(rng: random.Random, tracks: list[int], catalog: Catalog, user: User) -> Iterator[Play]:
    editorial = next(p for p in catalog.playlists if p.startswith("37i9dQZF1"))
    duration = catalog.tracks[tracks[0]].duration_ms
    device = rng.choice(
        (("smartphone", "android"), ("smartphone", "ios"), ("desktop", "macos"), ("web", "windows"))
    )
    for _ in range(rng.randint(1, 2)):
        length = duration if rng.random() < 0.6 else rng.randint(30_000, duration)
        yield (
            tracks[0],
            rng.randrange(86_400),
            length,
            "others_playlist",
            f"spotify:playlist:{editorial}",
            device,
        )


def _release_day(rng: random.Random, tracks: list[int], catalog: Catalog, user: User) -> Iterator[Play]:
    duration = catalog.tracks[tracks[0]].duration_ms
    device = rng.choice(
        (("smartphone", "android"), ("smartphone", "ios"), ("desktop", "windows"), ("tv", "android"))
    )
    for _ in range(rng.randint(1, 3)):
        source = rng.choice(("album", "artist", "search", "collection"))
        length = duration if rng.random() < 0.6 else rng.randint(30_000, duration)
        yield tracks[0], 6 * 3600 + rng.randrange(18 * 3600), length, source, "", device


_PLAYS = {
    "bot_farm": _bot_farm,
    "playlist_farm": _playlist_farm,
    "lockstep_ring": _lockstep_ring,
    "super_fan": _super_fan,
    "sleep_music": _sleep_music,
    "editorial_spike": _editorial_spike,
    "release_day": _release_day,
}
