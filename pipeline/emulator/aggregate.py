"""Aggregated streams and tracks: the per-day reports derived from the day's own stream rows.

The counts are tallied while the rows are generated, so the nested report reconciles exactly with
the row-level reports: per track and country, the gender x age cells sum to the `streams` rows,
skips are the `sub_30_sec_streams` rows, and listeners are the distinct users of `streams`. Cells
with a zero count are left out, since the keys under `country`, `gender`, `age` and `product` are data.
Records are serialized by hand (keys are known-safe; names go through `json.dumps`): there are
tens of thousands of nested cells per day.

The `totals` shape (`aggregated_shape="totals"`) is the one two public scripts agree on: no
`licensor`, `listeners` or `artists`, no `uri`s (ids come from `href`), country totals only, and
saves split by product at the top level. It is built from the same tallies, so it reconciles too.
"""

from __future__ import annotations

import json
import operator
from collections import Counter, defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from itertools import groupby
from typing import Protocol

from pipeline.emulator.audience import AGE_BUCKET_NAMES, GENDERS
from pipeline.emulator.catalog import WEB_API_HREF, Track
from pipeline.emulator.rows import COUNTRY_CODES


class DayTallies(Protocol):
    """The counts of a day's rows the per-day reports are built from (`StreamRows` keys)."""

    streams: Mapping[int, int]  # track << 16 | demo code -> streams of 30 s or more
    skips: Mapping[int, int]  # track << 16 | country code -> sub-30 streams
    saves: Mapping[int, int]  # track << 16 | country code << 1 | premium -> saves

    def listeners(self) -> Mapping[int, int]: ...


@dataclass
class TrackTally:
    """What one track accumulated over a day, each part in report order."""

    streams: str = '{"total":0,"country":{}}'  # the nested `streams` object, already serialized
    cells: int = 0  # (country, gender, age) cells in `streams`
    listeners: int = 0  # distinct users with a stream of 30 s or more
    skips: list[tuple[str, int]] = field(default_factory=list)  # (country, sub-30 rows)
    saves: list[tuple[str, str, int]] = field(default_factory=list)  # (country, free|premium, saves)


@dataclass
class Cells:
    """How many flat rows the nested records hold: the reconciliation totals for the four tables."""

    count: int = 0
    skips: int = 0
    saves: int = 0


_AGE_KEYS = tuple(f'"{a}":' for a in AGE_BUCKET_NAMES)
_GENDER_KEYS = tuple(f'"{g}":{{"total":' for g in GENDERS)


def track_tallies(rows: DayTallies, totals: bool = False) -> dict[int, TrackTally]:
    """Per-track tallies (track index -> tally, every track streamed that day) from the row counters.

    With `totals`, `streams` holds country totals only (the totals shape) and `cells` counts countries.
    """
    tallies: defaultdict[int, TrackTally] = defaultdict(TrackTally)
    for track, (streams, cells) in _streams(rows.streams, totals).items():
        tallies[track].streams, tallies[track].cells = streams, cells
    for track, listeners in rows.listeners().items():
        tallies[track].listeners = listeners
    for key in sorted(rows.skips):
        tallies[key >> 16].skips.append((COUNTRY_CODES[key & 0xFFFF], rows.skips[key]))
    for key in sorted(rows.saves):
        product = "premium" if key & 1 else "free"
        tallies[key >> 16].saves.append((COUNTRY_CODES[(key & 0xFFFF) >> 1], product, rows.saves[key]))
    return tallies


def _streams(counts: Mapping[int, int], totals: bool = False) -> dict[int, tuple[str, int]]:
    """Track -> (its nested `streams` JSON, its number of cells), from the day's cell counts.

    Keys are `track << 16 | country << 5 | gender << 3 | age`, so sorting them orders the cells
    exactly as the nesting needs; each level closes when its prefix of the key changes.
    """
    out: dict[int, tuple[str, int]] = {}
    keys = sorted(counts)
    end, i = len(keys), 0
    while i < end:
        track, first, countries, grand = keys[i] >> 16, i, [], 0
        while i < end and keys[i] >> 16 == track:
            country, genders, country_total = keys[i] >> 5, [], 0
            while i < end and keys[i] >> 5 == country:
                gender, ages, total = keys[i] >> 3, [], 0
                while i < end and keys[i] >> 3 == gender:
                    n = counts[keys[i]]
                    ages.append(f"{_AGE_KEYS[keys[i] & 7]}{n}")
                    total += n
                    i += 1
                genders.append(f'{_GENDER_KEYS[gender & 3]}{total},"age":{{{",".join(ages)}}}}}')
                country_total += total
            grand += country_total
            code = COUNTRY_CODES[country & 0x7FF]
            inner = "" if totals else f',"gender":{{{",".join(genders)}}}'
            countries.append(f'"{code}":{{"total":{country_total}{inner}}}')
        out[track] = (
            f'{{"total":{grand},"country":{{{",".join(countries)}}}}}',
            len(countries) if totals else i - first,
        )
    return out


def _skips(cells: list[tuple[str, int]]) -> str:
    countries = ",".join(f'"{c}":{{"total":{n}}}' for c, n in cells)
    return f'{{"total":{sum(n for _, n in cells)},"country":{{{countries}}}}}'


def _saves(cells: list[tuple[str, str, int]], totals: bool = False) -> tuple[str, int]:
    """The `saves` object and its number of flat rows (country x product, or countries for totals)."""
    countries = []
    for country, group in groupby(cells, key=operator.itemgetter(0)):
        products = [(p, n) for _, p, n in group]
        inner = "" if totals else ',"product":{' + ",".join(f'"{p}":{n}' for p, n in products) + "}"
        countries.append(f'"{country}":{{"total":{sum(n for _, n in products)}{inner}}}')
    head = f'{{"total":{sum(n for _, _, n in cells)},"country":{{{",".join(countries)}}}'
    if not totals:
        return head + "}", len(cells)
    by_product: Counter[str] = Counter()
    for _, product, n in cells:
        by_product[product] += n
    products = ",".join(f'"{p}":{by_product[p]}' for p in ("free", "premium") if by_product[p])
    return f'{head},"product":{{{products}}}}}', len(countries)


def totals_line(day: date, track: Track, tally: TrackTally, cells: Cells) -> str:
    """The NDJSON line of one track's record in the totals shape; adds its flat-row counts to `cells`."""
    saves, save_rows = _saves(tally.saves, totals=True)
    cells.count += tally.cells
    cells.skips += len(tally.skips)
    cells.saves += save_rows
    j = json.dumps
    album = track.album
    return (
        f'{{"date":"{day.isoformat()}","trackv2":{{"name":{j(track.name)},'
        f'"href":"{WEB_API_HREF}/tracks/{track.id}","isrc":"{track.isrc}"}},'
        f'"album":{{"name":{j(album.name)},"href":"{WEB_API_HREF}/albums/{album.id}","upc":"{album.upc}"}},'
        f'"streams":{tally.streams},"skips":{_skips(tally.skips)},"saves":{saves}}}\n'
    )


def record_line(day: date, licensor: str, track: Track, tally: TrackTally, cells: Cells) -> str:
    """The NDJSON line of one track's aggregated record; adds its flat-row counts to `cells`."""
    saves, save_rows = _saves(tally.saves)
    cells.count += tally.cells
    cells.skips += len(tally.skips)
    cells.saves += save_rows
    j = json.dumps
    trackv2 = (
        f'{{"name":{j(track.name)},"uri":"{track.uri}","href":"{WEB_API_HREF}/tracks/{track.id}",'
        f'"isrc":"{track.isrc}"}}'
    )
    album = track.album
    album_json = (
        f'{{"name":{j(album.name)},"uri":"{album.uri}","href":"{WEB_API_HREF}/albums/{album.id}",'
        f'"upc":"{album.upc}"}}'
    )
    artists = ",".join(f'{{"name":{j(a.name)},"uri":"{a.uri}"}}' for a in track.artists)
    return (
        f'{{"date":"{day.isoformat()}","licensor":{j(licensor)},"trackv2":{trackv2},"album":{album_json},'
        f'"artists":[{artists}],"listeners":{tally.listeners},"streams":{tally.streams},'
        f'"skips":{_skips(tally.skips)},"saves":{saves}}}\n'
    )


def track_line(track: Track) -> str:
    """The NDJSON line of the `tracks` report for one track."""
    record = {
        "track_id": track.id,
        "track_uri": track.uri,
        "isrc": track.isrc,
        "track_name": track.name,
        "artist_names": [a.name for a in track.artists],
        "album_name": track.album.name,
        "album_uri": track.album.uri,
        "upc": track.album.upc,
        "label": track.album.label,
        "duration_ms": track.duration_ms,
        "release_date": track.album.release_date,
        "explicit": track.explicit,
    }
    return json.dumps(record, separators=(",", ":")) + "\n"
