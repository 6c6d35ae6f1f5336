"""One licensor-day of Bulk API files, generated deterministically.

`generate_day` writes every file of a day (per-country `streams` and `sub_30_sec_streams`, and the
per-day `users`, `tracks` and `aggregatedstreams`) into a directory and returns its manifest: the
countries present and the totals `RunningEmulator.expected` reports. The same `DaySpec` always gives
byte-identical files: one seeded generator, draws in a fixed order, sorted output, fixed gzip headers.
"""

from __future__ import annotations

import contextlib
import gc
import math
import operator
import random
import sys
import threading
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

from pipeline.emulator.aggregate import (
    Cells,
    DayTallies,
    record_line,
    totals_line,
    track_line,
    track_tallies,
)
from pipeline.emulator.aggregate_shapes import coded_line
from pipeline.emulator.audience import User
from pipeline.emulator.catalog import Catalog, build_catalog, stable_seed
from pipeline.emulator.fraud import CombinedTallies, FraudPlan, Injection, Label, inject, labels
from pipeline.emulator.gzlines import Compressor, GzipLines, LineMutator, write_lines
from pipeline.emulator.modes import chain, form_mutator, mode_mutator
from pipeline.emulator.rows import StreamRows

GEN_VERSION = 2  # bump when generated content changes, so persisted caches are not reused
STREAM_REPORTS = ("streams", "sub_30_sec_streams")
DAY_REPORTS = ("users", "tracks", "aggregatedstreams")
REPORTS = STREAM_REPORTS + DAY_REPORTS
_CHUNK = 32768  # rows generated per step: memory stays flat however big the day is
_BATCH = 8192  # lines handed to a file's compressor at once


@dataclass(frozen=True)
class DaySpec:
    """What determines a day's content. `version` > 0 is a re-publication with late rows added.

    The last five fields are the content modes of `EmulatorConfig` (same names and values); a
    `day_shape` other than "uniform" is generated column-wise (`vectorized.py`).
    """

    seed: int
    licensor: str
    day: date
    rows_per_day: int
    version: int = 0
    aggregated_shape: str = "nested"
    field_names: str = "contract"
    track_id_forms: str = "base62"
    day_shape: str = "uniform"
    field_forms: str = "contract"
    fraud: str = ""  # `FraudPlan.token`: labelled patterns injected (`fraud.py`), "" for none

    @property
    def rows(self) -> int:
        """Stream rows (streams + sub-30) of the day; each re-publication adds about 10 %."""
        return self.rows_per_day + (self.rows_per_day * self.version + 9) // 10

    @property
    def key(self) -> str:
        """The cache directory name: every field that changes bytes (modes only when not the default)."""
        modes = "".join(
            f"-{tag}{value}"
            for tag, value, default in (
                ("a", self.aggregated_shape, "nested"),
                ("f", self.field_names, "contract"),
                ("i", self.track_id_forms, "base62"),
                ("d", self.day_shape, "uniform"),
                ("o", self.field_forms, "contract"),
            )
            if value != default
        )
        fraud = f"-x{self.fraud.replace('@', '-')}" if self.fraud else ""
        return f"g{GEN_VERSION}-s{self.seed}-r{self.rows_per_day}-v{self.version}{modes}{fraud}"


def file_name(report: str, country: str | None = None) -> str:
    """The file's name inside a day's cache directory."""
    return f"{report}_{country}.json.gz" if country else f"{report}.json.gz"


class _CountryFiles:
    """One gzip writer per country of a per-country report, fed in batches."""

    def __init__(
        self, out_dir: Path, report: str, compressor: Compressor, mutate: LineMutator | None
    ) -> None:
        self.out_dir, self.report, self.compressor, self.mutate = out_dir, report, compressor, mutate
        self.buffers: defaultdict[str, list[str]] = defaultdict(list)
        self.writers: dict[str, GzipLines] = {}

    def add(self, country: str, lines: list[str]) -> None:
        buffer = self.buffers[country]
        buffer += lines
        if len(buffer) >= _BATCH:
            self._write(country)

    def _write(self, country: str) -> None:
        if country not in self.writers:
            path = self.out_dir / file_name(self.report, country)
            self.writers[country] = GzipLines(path, self.report, self.compressor, self.mutate)
        self.writers[country].write(self.buffers.pop(country))

    def close(self) -> dict[str, int]:
        for country in list(self.buffers):
            self._write(country)
        for writer in self.writers.values():
            writer.close()
        return {c: self.writers[c].lines for c in sorted(self.writers)}


_gc_lock = threading.Lock()
_gc_users = 0


_saved_interval = 0.005


@contextlib.contextmanager
def _generating() -> Iterator[None]:
    """Tune the interpreter while any day generates, and restore it after the last one.

    The cyclic GC is paused (the many young containers of a day make it thrash) and the GIL switch
    interval shortened, so the compression thread gets the GIL back promptly after each zlib call
    instead of idling up to 5 ms every time.
    """
    global _gc_users, _saved_interval
    with _gc_lock:
        _gc_users += 1
        if _gc_users == 1:
            gc.disable()
            _saved_interval = sys.getswitchinterval()
            sys.setswitchinterval(0.0005)
    try:
        yield
    finally:
        with _gc_lock:
            _gc_users -= 1
            if _gc_users == 0:
                sys.setswitchinterval(_saved_interval)
                gc.enable()


def _user_line(user: User, day: date) -> str:
    birth = "null" if user.birth_year is None else user.birth_year
    return (
        f'{{"user_id":"{user.user_id}","birth_year":{birth},"gender":"{user.gender}",'
        f'"country":"{user.country}","region_code":"{user.region_code}","product":"{user.product}",'
        f'"account_age_days":{user.account_age_days(day)}}}\n'
    )


def audience_pool(rows_per_day: int) -> int:
    """How many listeners a licensor's audience has: it grows with the licensor's size."""
    return max(64, rows_per_day // 3)


def inject_fraud(spec: DaySpec, catalog: Catalog, pool: int) -> Injection:
    """The labelled patterns' rows for the day (`fraud.py`)."""
    return inject(spec.seed, spec.licensor, spec.day, FraudPlan.from_token(spec.fraud), catalog, pool)


def fraud_labels(spec: DaySpec) -> list[Label]:
    """Who and what the day's injected patterns touch: the evaluation's ground truth."""
    plan, catalog = FraudPlan.from_token(spec.fraud), build_catalog(spec.seed, spec.licensor)
    return labels(spec.seed, spec.licensor, spec.day, plan, catalog, audience_pool(spec.rows_per_day))


def generate_day(spec: DaySpec, out_dir: Path, mutate: LineMutator | None = None) -> dict[str, Any]:
    """Write all files of one licensor-day into `out_dir`; return the manifest.

    `mutate` (content faults) sees lines after the content modes changed them.
    """
    mutate = chain(
        mode_mutator(spec.field_names, spec.track_id_forms), form_mutator(spec.field_forms), mutate
    )
    if spec.fraud and spec.day_shape != "uniform":
        raise ValueError("fraud patterns are injected into the uniform day shape only")
    if spec.day_shape != "uniform":  # imported here: polars is needed by these shapes only
        from pipeline.emulator.vectorized import generate_shaped_day

        return generate_shaped_day(spec, out_dir, mutate)
    with _generating(), Compressor() as compressor:
        rng = random.Random(stable_seed(spec.seed, spec.licensor, spec.day.isoformat(), spec.version))
        catalog = build_catalog(spec.seed, spec.licensor)
        pool = audience_pool(spec.rows_per_day)
        rows = StreamRows(spec.seed, spec.licensor, spec.day, pool, catalog, rng)
        files = (
            _CountryFiles(out_dir, "streams", compressor, mutate),
            _CountryFiles(out_dir, "sub_30_sec_streams", compressor, mutate),
        )
        chunks = max(1, math.ceil(spec.rows / _CHUNK))
        for j in range(chunks):
            n = spec.rows // chunks + (1 if j < spec.rows % chunks else 0)
            for sub30, country, lines in rows.chunk(n, j * 86400 // chunks, (j + 1) * 86400 // chunks):
                files[sub30].add(country, lines)
        injection = inject_fraud(spec, catalog, pool) if spec.fraud else None
        for country, lines in sorted((injection.lines if injection else {}).items()):
            files[0].add(country, lines)
        countries = {"streams": files[0].close(), "sub_30_sec_streams": files[1].close()}
        known = {u.user_id: u for u in filter(None, rows.users)} | (injection.users if injection else {})
        users = sorted(known.values(), key=operator.attrgetter("user_id"))
        lines = (_user_line(u, spec.day) for u in users)
        n_users = write_lines(out_dir / file_name("users"), "users", lines, compressor, mutate)
        tallies = CombinedTallies(rows, injection) if injection else rows
        return catalog_reports(spec, rows.catalog, tallies, out_dir, compressor, mutate, countries, n_users)


def catalog_reports(
    spec: DaySpec,
    catalog: Catalog,
    rows: DayTallies,
    out_dir: Path,
    compressor: Compressor,
    mutate: LineMutator | None,
    countries: dict[str, dict[str, int]],
    n_users: int,
) -> dict[str, Any]:
    """Write the per-day reports derived from the tallies (tracks, aggregatedstreams); the manifest."""
    tracks = catalog.tracks
    totals = spec.aggregated_shape == "totals"
    tallies = track_tallies(rows, totals)
    day_tracks = sorted(tallies, key=lambda t: tracks[t].id)
    n_tracks = write_lines(
        out_dir / file_name("tracks"),
        "tracks",
        [track_line(tracks[t]) for t in day_tracks],
        compressor,
        mutate,
    )
    cells = Cells()
    coded = spec.aggregated_shape == "coded"
    agg = (
        totals_line(spec.day, tracks[t], tallies[t], cells)
        if totals
        else coded_line(record_line(spec.day, spec.licensor, tracks[t], tallies[t], cells))
        if coded
        else record_line(spec.day, spec.licensor, tracks[t], tallies[t], cells)
        for t in day_tracks
    )
    n_agg = write_lines(
        out_dir / file_name("aggregatedstreams"), "aggregatedstreams", agg, compressor, mutate
    )
    expected = {
        "streams": sum(countries["streams"].values()),
        "sub30_streams": sum(countries["sub_30_sec_streams"].values()),
        "users": n_users,
        "tracks": n_tracks,
        "aggregated_summary": n_agg,
        "aggregated_count": cells.count,
        "aggregated_skips": cells.skips,
        "aggregated_saves": cells.saves,
    }
    return {"key": spec.key, "countries": {r: list(c) for r, c in countries.items()}, "expected": expected}
