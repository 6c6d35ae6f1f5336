"""Shaped days (`day_shape` "zipf" or "single"), generated column-wise with polars.

A benchmark needs a major label's day (16 M rows and more) in minutes; the row-wise generator
(`rows.py`) took ~45 min for 16 M rows on a loaded 2-core machine. Here every column of a chunk is
drawn at once and polars writes the lines: ~250 k rows per CPU-second, all counted (4 M rows: 16.5
CPU-s, imports included; 16 M rows: 5.7 min wall on 2 cores shared at load ~10).

Faithful to `rows.py`: the same catalog (Zipf track popularity, durations, per-track sub-30 share),
sources and playlist uris, devices and flags, stream lengths, completion and saves, heavy listeners
at low user indexes, users drawn from the same attribute weights, and the same line layout (polars'
NDJSON writer emits the hand-made lines' bytes: same keys in the same order, compact). The per-day
reports come from tallies of the rows written (`generate.catalog_reports`), so a shaped day
reconciles as a uniform one does. What differs: the listeners are this module's own (drawn in
blocks of 65,536, so user i is the same person for every day size), and their countries follow
Zipf shares over the 60 countries, assigned by a low-discrepancy sequence so that any run of users,
heavy or light, holds each country's share: the day's shares match the weights at every size.

All randomness is `random.Random(stable_seed(...)).randbytes` read as little-endian integers, so a
spec gives byte-identical files in every process.
"""

from __future__ import annotations

import array
import io
import math
import random
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any

import polars as pl
import pyarrow as pa

from pipeline.emulator.audience import (
    ACCOUNT_EPOCH,
    AGE_BUCKET_NAMES,
    BIRTH_WEIGHTS,
    BIRTH_YEARS,
    COUNTRY_WEIGHTS,
    GENDER_WEIGHTS,
    GENDERS,
    PRODUCT_WEIGHTS,
    PRODUCTS,
    age_bucket,
    regions,
)
from pipeline.emulator.catalog import Catalog, build_catalog, stable_seed
from pipeline.emulator.gzlines import Compressor, GzipLines, LineMutator, fast_deflater
from pipeline.emulator.rows import COUNTRY_CODES, SUB30_MS, device_choices, source_choices

if TYPE_CHECKING:
    from pipeline.emulator.generate import DaySpec

SINGLE_FILE = "all"  # the listing segment (and file name part) of a single-file day's one file
ZIPF_EXPONENT = 1.15  # shares 1/rank**s over the 60 countries: the largest (US) holds 27.4 %
RANKED_COUNTRIES = tuple(sorted(COUNTRY_WEIGHTS, key=lambda c: (-COUNTRY_WEIGHTS[c], c)))
_CHUNK = 1 << 19  # stream rows drawn per step (~200 MB of lines): memory stays flat at any size
_USER_BLOCK = 1 << 16  # users drawn per seeded block
_PENDING = 4  # batches queued for compression (a big country's batch is ~50 MB)
_COMPACT_EVERY = 8  # chunks between merges of the running tallies
_GOLDEN = (math.sqrt(5) - 1) / 2  # the Weyl sequence frac(i * golden) spreads any run of users evenly
_TWO_32 = float(1 << 32)


def zipf_shares() -> dict[str, float]:
    """Country -> share of a zipf day's streams (US first, then by audience size)."""
    weights = [1.0 / (rank + 1) ** ZIPF_EXPONENT for rank in range(len(RANKED_COUNTRIES))]
    total = sum(weights)
    return {c: w / total for c, w in zip(RANKED_COUNTRIES, weights, strict=True)}


def _u32(rng: random.Random, n: int) -> pl.Series:
    """`n` uniform 32-bit unsigned integers, the same on every platform."""
    values = array.array("I", rng.randbytes(4 * n))
    if sys.byteorder == "big":
        values.byteswap()  # random bytes are read little-endian everywhere
    return pl.Series(pa.Array.from_buffers(pa.uint32(), n, [None, pa.py_buffer(values)]))


def _unit(rng: random.Random, n: int) -> pl.Series:
    """`n` uniform floats in [0, 1)."""
    return _u32(rng, n).cast(pl.Float64) / _TWO_32


def _cumulative(weights: list[float] | tuple[float, ...]) -> pl.Series:
    total, acc, out = sum(weights), 0.0, []
    for w in weights:
        acc += w
        out.append(acc / total)
    return pl.Series(out, dtype=pl.Float64)


def _pick(cumulative: pl.Series, uniforms: pl.Series) -> pl.Series:
    """Indexes drawn with the weights behind `cumulative` (ending at 1.0), one per uniform."""
    return cumulative.search_sorted(uniforms, side="right").clip(upper_bound=len(cumulative) - 1)


def _user_block(seed: int, licensor: str, block: int) -> pl.DataFrame:
    """Users `block * 65536` onwards: id bytes and attribute codes (day-independent)."""
    n = _USER_BLOCK
    rng = random.Random(stable_seed(seed, licensor, "shaped-users", block))
    ids = pa.Array.from_buffers(pa.binary(16), n, [None, pa.py_buffer(rng.randbytes(16 * n))])
    offset = stable_seed(seed, licensor, "shaped-countries") / 2.0**64
    index = pl.int_range(block * n, (block + 1) * n, eager=True).cast(pl.Float64)
    rank = _pick(_cumulative(list(zipf_shares().values())), (index * _GOLDEN + offset) % 1.0)
    rank_code = pl.Series([COUNTRY_CODES.index(c) for c in RANKED_COUNTRIES], dtype=pl.UInt32)
    birth = pl.Series(BIRTH_YEARS, dtype=pl.Int32).gather(_pick(_cumulative(BIRTH_WEIGHTS), _unit(rng, n)))
    frame = pl.DataFrame(
        {
            "id": pl.Series(ids).cast(pl.Binary),
            "code": rank_code.gather(rank),
            "gender": _pick(_cumulative(GENDER_WEIGHTS), _unit(rng, n)),
            "product": _pick(_cumulative(PRODUCT_WEIGHTS), _unit(rng, n)),
            "birth": birth,
            "no_age": _unit(rng, n) < 0.06,  # not every account tells its age
            "place": _unit(rng, n),
            "created": (ACCOUNT_EPOCH - (_unit(rng, n) * 5000).floor()).cast(pl.Int32),
        }
    )
    family, student = PRODUCTS.index("family"), PRODUCTS.index("student")
    return frame.with_columns(
        birth=pl.when(pl.col("no_age")).then(None).otherwise(pl.col("birth")),
    ).with_columns(
        product=pl.when((pl.col("product") == family) & (pl.col("birth") > 2004))
        .then(student)
        .otherwise(pl.col("product"))
        .cast(pl.UInt32),
    )


@dataclass
class _Lookups:
    """Small tables the row columns are gathered from."""

    day: date
    catalog: Catalog
    clock: pl.Series = field(init=False)  # second of the day -> timestamp text
    tracks: pl.DataFrame = field(init=False)
    sources: pl.DataFrame = field(init=False)
    devices: pl.DataFrame = field(init=False)
    source_cum: pl.Series = field(init=False)
    device_cum: pl.Series = field(init=False)
    track_cum: pl.Series = field(init=False)

    def __post_init__(self) -> None:
        stamp = self.day.isoformat()
        self.clock = pl.Series(
            [f"{stamp}T{s // 3600:02d}:{s // 60 % 60:02d}:{s % 60:02d}Z" for s in range(86400)]
        )
        tracks = self.catalog.tracks
        self.tracks = pl.DataFrame(
            {
                "track_id": [t.id for t in tracks],
                "isrc": [t.isrc for t in tracks],
                "duration": pl.Series([t.duration_ms for t in tracks], dtype=pl.Int64),
                "skip": [t.skip_rate for t in tracks],
            }
        )
        self.track_cum = pl.Series(self.catalog.cum_weights, dtype=pl.Float64) / self.catalog.cum_weights[-1]
        sources, weights = source_choices(self.catalog)
        self.sources = pl.DataFrame(sources, schema=["source", "source_uri"], orient="row")
        self.source_cum = _cumulative(weights)
        names = ["device_type", "os", "cached", "shuffle", "offline", "discovery"]
        devices, weights = device_choices()
        self.devices = pl.DataFrame(devices, schema=names, orient="row")
        self.device_cum = _cumulative(weights)


def _places() -> tuple[pl.Series, pl.Series, pl.Series]:
    """Region codes of every country in one list, and each country code's start and count in it."""
    flat: list[str] = []
    starts, counts = [], []
    for country in COUNTRY_CODES:
        starts.append(len(flat))
        counts.append(len(regions(country)))
        flat += regions(country)
    return pl.Series(flat), pl.Series(starts, dtype=pl.Int64), pl.Series(counts, dtype=pl.Int64)


def audience(seed: int, licensor: str, pool: int, day: date) -> pl.DataFrame:
    """Users 0 .. pool - 1 with what a stream row and the day's tallies need of them."""
    blocks = [_user_block(seed, licensor, b) for b in range(-(-pool // _USER_BLOCK))]
    users = pl.concat(blocks).head(pool)
    flat, starts, counts = _places()
    buckets = [AGE_BUCKET_NAMES.index(age_bucket(y, day)) for y in BIRTH_YEARS]
    code = users["code"]
    place = starts.gather(code) + (users["place"] * counts.gather(code)).floor().cast(pl.Int64)
    bucket = (
        pl.Series(buckets, dtype=pl.UInt32)
        .gather((users["birth"].fill_null(BIRTH_YEARS[0]) - BIRTH_YEARS[0]).cast(pl.UInt32))
        .set(users["birth"].is_null(), AGE_BUCKET_NAMES.index("unknown"))
    )
    premium = users["product"] != PRODUCTS.index("free")
    return users.with_columns(
        region=flat.gather(place),
        demo=((code * 4 + users["gender"]) * 8 + bucket).cast(pl.UInt32),
        save=(code * 2 + premium.cast(pl.UInt32)).cast(pl.UInt32),
        premium=premium,
    ).drop("place", "no_age")


_STREAM_COLUMNS = (  # the order of a stream line's keys, as `rows.py` writes them
    "timestamp",
    "track_id",
    "isrc",
    "user_id",
    "country",
    "region_code",
    "access",
    "source",
    "source_uri",
    "stream_length",
    "completion",
    "device_type",
    "os",
    "cached",
    "shuffle",
    "offline",
    "discovery",
)


def stream_chunk(
    look: _Lookups, users: pl.DataFrame, rng: random.Random, rows: int, start_sec: int, end_sec: int
) -> pl.DataFrame:
    """`rows` streams between two seconds of the day, in time order: the line columns plus `t`
    (track), `u` (user), `kind` (0 sub-30, 1 stream, 2 stream ending with a save) for the tallies."""
    pool = users.height
    secs = (_u32(rng, rows).cast(pl.UInt64) * (end_sec - start_sec) // (1 << 32) + start_sec).sort()
    track = _pick(look.track_cum, _unit(rng, rows))
    user = (_unit(rng, rows).pow(2.5) * pool).floor().cast(pl.UInt32)  # low indexes are heavy listeners
    source = _pick(look.source_cum, _unit(rng, rows))
    device = _pick(look.device_cum, _unit(rng, rows))
    r = _unit(rng, rows)
    who = users.select(pl.all().gather(user))
    what = look.tracks.select(pl.all().gather(track))
    frame = pl.concat(
        [
            pl.DataFrame({"timestamp": look.clock.gather(secs), "t": track, "u": user, "r": r}),
            what,
            who.select("id", "code", "region", "premium", "demo", "save"),
            look.sources.select(pl.all().gather(source)),
            look.devices.select(pl.all().gather(device)),
        ],
        how="horizontal",
    )
    sub = pl.col("r") < pl.col("skip")  # one uniform decides sub-30 or not, then (rescaled) the length
    v = (pl.col("r") - pl.col("skip")) / (1.0 - pl.col("skip"))
    span = pl.col("duration") - SUB30_MS
    countries = pl.Series(COUNTRY_CODES)
    return frame.with_columns(
        user_id=pl.col("id").bin.encode("hex"),
        country=countries.gather(frame["code"]),
        access=pl.when(pl.col("premium")).then(pl.lit("premium")).otherwise(pl.lit("free")),
        stream_length=pl.when(sub)
        .then(1000 + (pl.col("r") / pl.col("skip") * 29000).floor().cast(pl.Int64))
        .when(v < 0.55)
        .then(pl.col("duration"))
        .otherwise(SUB30_MS + ((v - 0.55) / 0.45 * span).floor().cast(pl.Int64)),
        completion=~sub & (v < 0.55),
        kind=pl.when(sub).then(0).when((v * 100) % 1 < 0.035).then(2).otherwise(1).cast(pl.UInt8),
    ).rename({"region": "region_code"})


def _ndjson(frame: pl.DataFrame) -> bytes:
    buffer = io.BytesIO()
    frame.write_ndjson(buffer)
    return buffer.getvalue()


@dataclass
class ShapedTallies:
    """A shaped day's counts, keyed as `StreamRows` keys them (`aggregate.DayTallies`)."""

    pool: int
    streams: dict[int, int] = field(default_factory=dict)
    skips: dict[int, int] = field(default_factory=dict)
    saves: dict[int, int] = field(default_factory=dict)
    by_track: dict[int, int] = field(default_factory=dict)
    _parts: dict[str, list[pl.DataFrame]] = field(default_factory=dict)

    def listeners(self) -> dict[int, int]:
        return self.by_track

    def add(self, chunk: pl.DataFrame) -> None:
        """Count a chunk's rows: cells, skips, saves, (track, user) listens and the users seen."""
        key = pl.col("t").cast(pl.UInt64) * 65536
        played = chunk.filter(pl.col("kind") > 0)
        parts = {
            "streams": played.select(key=key + pl.col("demo")),
            "skips": chunk.filter(pl.col("kind") == 0).select(key=key + pl.col("code")),
            "saves": chunk.filter(pl.col("kind") == 2).select(key=key + pl.col("save")),
        }
        for name, keys in parts.items():
            self._parts.setdefault(name, []).append(keys.group_by("key").len())
        listens = played.select(key=pl.col("t").cast(pl.UInt64) * self.pool + pl.col("u")).unique()
        self._parts.setdefault("listens", []).append(listens)
        self._parts.setdefault("users", []).append(chunk.select("u").unique())
        if len(self._parts["users"]) >= _COMPACT_EVERY:
            self._compact()

    def _compact(self) -> None:
        for name, frames in self._parts.items():
            merged = pl.concat(frames)
            if "len" in merged.columns:
                merged = merged.group_by(merged.columns[0]).agg(pl.col("len").sum())
            else:
                merged = merged.unique()
            self._parts[name] = [merged]

    def finish(self) -> pl.Series:
        """Fill the count dicts; return the indexes of the users who streamed (sorted)."""
        self._compact()
        for name in ("streams", "skips", "saves"):
            counts = self._parts.get(name, [pl.DataFrame({"key": [], "len": []})])[0]
            getattr(self, name).update(zip(counts["key"].to_list(), counts["len"].to_list(), strict=True))
        listens = self._parts["listens"][0]
        per_track = (listens["key"] // self.pool).value_counts()
        self.by_track = dict(zip(per_track["key"].to_list(), per_track["count"].to_list(), strict=True))
        return self._parts["users"][0]["u"].sort()


class _Files:
    """One gzip writer per (report, file part) of the day, created on first use."""

    def __init__(self, out_dir: Path, compressor: Compressor, mutate: LineMutator | None) -> None:
        self.out_dir, self.compressor, self.mutate = out_dir, compressor, mutate
        self.writers: dict[tuple[str, str], GzipLines] = {}

    def write(self, report: str, part: str, frame: pl.DataFrame) -> None:
        from pipeline.emulator.generate import file_name

        if (report, part) not in self.writers:
            path = self.out_dir / file_name(report, part)
            self.writers[report, part] = GzipLines(path, report, self.compressor, self.mutate, fast_deflater)
        self.writers[report, part].write_data(_ndjson(frame), frame.height)

    def close(self) -> dict[str, dict[str, int]]:
        out: dict[str, dict[str, int]] = {"streams": {}, "sub_30_sec_streams": {}}
        for (report, part), writer in sorted(self.writers.items()):
            writer.close()
            if report in out:
                out[report][part] = writer.lines
        return out


def _write_users(users: pl.DataFrame, seen: pl.Series, day: date, files: _Files) -> int:
    """The `users` report: every user who streamed, sorted by id (hex order is byte order)."""
    chosen = users.select(pl.all().gather(seen)).sort("id")
    lines = chosen.select(
        user_id=pl.col("id").bin.encode("hex"),
        birth_year=pl.col("birth"),
        gender=pl.Series(GENDERS).gather(chosen["gender"]),
        country=pl.Series(COUNTRY_CODES).gather(chosen["code"]),
        region_code=pl.col("region"),
        product=pl.Series(PRODUCTS).gather(chosen["product"]),
        account_age_days=(day.toordinal() - pl.col("created")).clip(lower_bound=0),
    )
    for offset in range(0, lines.height, _CHUNK):
        files.write("users", "", lines.slice(offset, _CHUNK))
    return lines.height


def generate_shaped_day(
    spec: DaySpec, out_dir: Path, mutate: LineMutator | None, progress: Callable[[str], None] | None = None
) -> dict[str, Any]:
    """Write every file of a zipf or single-file licensor-day (`generate.DaySpec`); the manifest."""
    from pipeline.emulator.generate import catalog_reports

    catalog = build_catalog(spec.seed, spec.licensor)
    pool = max(64, spec.rows_per_day // 3)  # the audience grows with the licensor's size
    users = audience(spec.seed, spec.licensor, pool, spec.day)
    look = _Lookups(spec.day, catalog)
    tallies = ShapedTallies(pool)
    single = spec.day_shape == "single"
    with Compressor(max_pending=_PENDING) as compressor:
        files = _Files(out_dir, compressor, mutate)
        chunks = max(1, -(-spec.rows // _CHUNK))
        for j in range(chunks):
            n = spec.rows // chunks + (1 if j < spec.rows % chunks else 0)
            rng = random.Random(
                stable_seed(spec.seed, spec.licensor, spec.day.isoformat(), spec.version, "shaped", j)
            )
            chunk = stream_chunk(look, users, rng, n, j * 86400 // chunks, (j + 1) * 86400 // chunks)
            tallies.add(chunk.select("t", "u", "kind", "demo", "code", "save"))
            sub30 = (pl.col("kind") == 0).cast(pl.UInt32)
            group = sub30 if single else pl.col("code") * 2 + sub30
            lines = chunk.select(*_STREAM_COLUMNS, g=group)
            del chunk
            for (g,), part in sorted(lines.partition_by("g", as_dict=True, maintain_order=True).items()):
                name = SINGLE_FILE if single else COUNTRY_CODES[int(g) >> 1]
                report = "sub_30_sec_streams" if int(g) & 1 else "streams"
                files.write(report, name, part.drop("g"))
            if progress:
                progress(f"{spec.licensor} {spec.day}: chunk {j + 1}/{chunks}")
        seen = tallies.finish()
        n_users = _write_users(users, seen, spec.day, files)
        countries = files.close()
        return catalog_reports(spec, catalog, tallies, out_dir, compressor, mutate, countries, n_users)
