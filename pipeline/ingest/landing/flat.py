"""Flat reports (streams, sub30_streams, users, tracks): NDJSON line blocks -> typed Arrow tables.

Fast path: Arrow's JSON reader parses a whole block against the declared schema, with no Python
per row (several blocks at once, in worker threads). It is lax in ways that would hide bad lines
(blank or `null` lines, two objects on one line, invalid UTF-8), so a block is only trusted when
every line starts with `{`, no line holds a second value after its object (checked with RE2
scans, far cheaper than counting lines in Python) and its strings are valid UTF-8. Then rows and
lines match one to one. Any doubt sends that one block to the slow path: `json.loads` per line
with lossless per-field casts and precise rejects.

Both paths rename fields the same way (`names.py`): on the fast path an alias Arrow found is merged
into its field with `coalesce` (whole columns), so no line is parsed twice.
Track ids are normalized to base62 (`trackids.py`); per file, a `FieldTally` feeds `fieldcheck.py`.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.json as pj

from pipeline.ingest.landing.coerce import coercer_for, show
from pipeline.ingest.landing.drift import EXTRA, extra_json
from pipeline.ingest.landing.fieldcheck import FieldTally
from pipeline.ingest.landing.lines import BadLine, load_object, split_block
from pipeline.ingest.landing.parsing import Parsed
from pipeline.ingest.landing.rejects import Reject
from pipeline.ingest.landing.rules import Bound
from pipeline.ingest.landing.trackids import InvalidTrackId, id_violation, normalize_column
from pipeline.reports import TableSpec
from pipeline.spotify_ids import normalize_track_id

# Arrow parses a block in chunks of this size: large chunks cost ~25 % less CPU than small ones.
# Arrow refuses lines longer than twice the chunk; shorter overlong lines are caught by
# `has_line_longer_than` before Arrow runs, so the slow path rejects every one of them.
_ARROW_CHUNK = 4 << 20
# A line not starting with "{" (blank, whitespace-led, `null`, which also crashes Arrow's reader
# when it opens one of its chunks), or an object followed on its line by another object or null.
# Separate patterns: RE2 scans each at memchr speed, an alternation of them 30 times slower.
_SUSPECT_LINES = (r"\n[^{]", r"\}[ \t\r]*[{n]")
_SURROGATE_ESCAPE = r"\\u[dD][89abcdefABCDEF]"
_ID_CACHE_ENTRIES = 100_000


def _as_binary(data: bytes) -> pa.Array:
    """A zero-copy one-element binary array over `data`, for Arrow's fast regex kernels."""
    offsets = pa.array([0, len(data)], pa.int64()).buffers()[1]
    return pa.Array.from_buffers(pa.large_binary(), 1, [None, offsets, pa.py_buffer(data)])


def _matches(view: pa.Array, pattern: str) -> bool:
    return pc.find_substring_regex(view, pattern)[0].as_py() >= 0


def has_line_longer_than(data: bytes, limit: int) -> bool:
    """Whether a line of `data` is longer than `limit` bytes, without splitting it in the usual case.

    A line longer than `limit` covers a whole aligned window of `limit // 2` bytes, so only when
    some window holds no newline are the lines measured one by one.
    """
    half = max(limit // 2, 1)
    if all(data.find(b"\n", start, start + half) >= 0 for start in range(0, len(data) - half + 1, half)):
        return False
    return max(map(len, data.split(b"\n"))) > limit


class _Retype(Exception):
    """An alias column Arrow inferred with another type than its field's: the slow path decides."""


@dataclass(frozen=True)
class IdRule:
    """A track id column's rule on the fast path: the mask of values that are no id (see trackids)."""

    field: str

    def violation(self, value: object) -> str:
        return id_violation(self.field, value)


@dataclass(frozen=True)
class Prepared:
    """Arrow's parse of a block, fields renamed and ids normalized; masks of values that are no id."""

    table: pa.Table
    bad_ids: dict[str, pa.Array]


class FlatParser:
    """Parses line blocks of one flat table, counting unknown fields and invalid track ids as it goes."""

    def __init__(
        self,
        spec: TableSpec,
        *,
        max_line_bytes: int,
        bounds: tuple[Bound, ...] = (),
        aliases: Mapping[str, tuple[str, ...]] | None = None,
    ) -> None:
        self.spec = spec
        self.bounds = bounds  # plausibility rules (`rules.bounds_for`): out-of-range values are rejected
        self.record_schema = spec.record_schema
        self.out_schema = pa.schema([*spec.fields, pa.field(EXTRA, pa.string())])
        self.max_line_bytes = max_line_bytes
        self.unknown_fields: Counter[str] = Counter()
        self.invalid_ids = 0  # lines rejected because a track id was in no known form
        self.tally = FieldTally()  # of the current file; `finish_file` hands it over
        self.aliases = dict(spec.aliases if aliases is None else aliases)
        self._id_cache: dict[str, str | None] = {}
        self._alias_of = {alias: name for name, names in self.aliases.items() for alias in names}
        self._declared = frozenset(self.record_schema.names)
        self._known = self._declared | frozenset(self._alias_of)
        self._required = frozenset(spec.required)
        self._optional = tuple(n for n in self.record_schema.names if n not in self._required)
        # (field, its aliases, its cast, whether it holds track ids): the slow path's per-field plan
        self._coercers = [
            (f.name, self.aliases.get(f.name, ()), coercer_for(f.type), f.name in spec.track_ids)
            for f in spec.fields
        ]
        self._names = [f.name for f in spec.fields]
        self._positions = {f.name: i for i, f in enumerate(spec.fields)}
        # Timestamps are read as strings and cast afterwards: Arrow's cast parses ISO 8601 ~15x
        # faster than its JSON reader's timestamp conversion (the same strictness: a value either
        # casts or sends the block to the slow path).
        self._timestamps = [f.name for f in self.record_schema if pa.types.is_timestamp(f.type)]
        read_schema = pa.schema(
            [pa.field(f.name, pa.string()) if f.name in self._timestamps else f for f in self.record_schema]
        )
        self._parse_options = pj.ParseOptions(
            explicit_schema=read_schema,
            unexpected_field_behavior="infer",
            newlines_in_values=False,
        )
        # One thread per block: blocks are parsed in parallel (land.py), not chunks within one.
        self._read_options = pj.ReadOptions(block_size=_ARROW_CHUNK, use_threads=False)

    def prepare(self, data: bytes) -> Prepared | None:
        """Arrow's parse of the block, or None when it needs the line-by-line path.

        Thread-safe and independent of line numbers, so several blocks can be prepared at once.
        """
        if not data.startswith(b"{"):
            return None
        view = _as_binary(data)
        if any(_matches(view, pattern) for pattern in _SUSPECT_LINES):
            return None
        if has_line_longer_than(data, self.max_line_bytes):
            return None
        try:
            table = pj.read_json(
                pa.BufferReader(data), read_options=self._read_options, parse_options=self._parse_options
            )
            if not data.isascii() or _matches(view, _SURROGATE_ESCAPE):
                table.validate(full=True)  # invalid UTF-8, or a lone surrogate from a \ud800 escape
            for name in self._timestamps:
                index = table.schema.get_field_index(name)
                if index >= 0:
                    declared = self.record_schema.field(name).type
                    table = table.set_column(index, name, pc.cast(table[name], declared))
            table = self._renamed(table)
        except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError, _Retype):
            return None
        bad_ids = {}
        for name in self.spec.track_ids:
            column, bad = normalize_column(table[name])
            table = table.set_column(table.schema.get_field_index(name), name, column)
            if bad is not None:
                bad_ids[name] = bad
        return Prepared(table, bad_ids)

    def _renamed(self, table: pa.Table) -> pa.Table:
        """Aliased fields filled from their aliases where null; the alias columns dropped.

        Aliases are not in the read schema (declaring them costs Arrow's reader ~25 % on every
        block), so a present one comes with an inferred type: taken when it is the field's type
        (a timestamp also from text), else the block goes to the slow path, whose casts decide.
        """
        present = [n for n in table.column_names if n in self._alias_of]
        if not present:
            return table
        for name, names in self.aliases.items():
            columns = [table[name]] if table[name].null_count < table.num_rows else []
            columns += [self._retyped(table[n], name) for n in names if n in present]
            columns = [c for c in columns if c.null_count < len(c)]
            if columns:
                merged = pc.coalesce(*columns) if len(columns) > 1 else columns[0]
                table = table.set_column(table.schema.get_field_index(name), name, merged)
        return table.drop_columns(present)

    def _retyped(self, column: pa.ChunkedArray, name: str) -> pa.ChunkedArray:
        declared = self.record_schema.field(name).type
        if column.type == declared or column.null_count == len(column):
            return column
        if name in self._timestamps and (
            pa.types.is_string(column.type) or pa.types.is_timestamp(column.type)
        ):
            return pc.cast(column, declared)
        raise _Retype

    def finish_file(self) -> FieldTally:
        """The tally of the file whose last block was parsed; the next file starts a new one."""
        tally, self.tally = self.tally, FieldTally()
        return tally

    def parse(self, data: bytes, prepared: Prepared | None, first_line: int, source: str) -> Parsed:
        """Rows of a block of whole lines whose first line is number `first_line` of `source`."""
        if prepared is None:
            return self._slow(data, first_line, source)
        return self._accept_fast(prepared, data, first_line, source)

    # -- fast path -------------------------------------------------------------------------
    def _accept_fast(self, prepared: Prepared, data: bytes, first_line: int, source: str) -> Parsed:
        table = prepared.table
        lines = table.num_rows  # one row per line: checked in _fast
        rejects: list[Reject] = []
        extra_names = [n for n in table.column_names if n not in self._declared]
        tally = self.tally
        tally.records += lines
        for name in self.spec.required:
            tally.missing[name] += table[name].null_count
        for name in extra_names:
            tally.unknown[name] += lines - table[name].null_count
        # Whole-column tests; only the rows they flag are looked at one by one, for the reason.
        tests: list[tuple[Any, Any]] = [
            (pc.is_null(table[name]), f"missing required field {name!r}") for name in self.spec.required
        ]
        tests += [(mask, IdRule(name)) for name, mask in prepared.bad_ids.items()]
        tests += [(bound.outside(table[bound.field]), bound) for bound in self.bounds]
        if tests:
            mask = tests[0][0]
            for other, _ in tests[1:]:
                mask = pc.or_(mask, other)
            if pc.any(mask).as_py():
                raw_lines = data.split(b"\n")
                for row in pc.indices_nonzero(mask).to_pylist():
                    why = next(why for flags, why in tests if flags[row].as_py())
                    reason = why if isinstance(why, str) else why.violation(table[why.field][row].as_py())
                    self.invalid_ids += isinstance(why, IdRule)
                    rejects.append(Reject.of(source, first_line + row, str(reason), raw_lines[row]))
                table = table.filter(pc.invert(mask))
        tally.rows += table.num_rows
        for name in self._optional:
            tally.nulls[name] += table[name].null_count
        if extra_names and table.num_rows:
            for name in extra_names:
                present = table.num_rows - table[name].null_count
                if present:
                    self.unknown_fields[name] += present
            extra = extra_json(table.select(extra_names))
        else:
            extra = pa.nulls(table.num_rows, pa.string())
        columns = [table[n] for n in self.record_schema.names] + [extra]
        out = pa.Table.from_arrays(columns, schema=self.out_schema)
        return Parsed({self.spec.name: out}, rejects, lines, lines)

    # -- slow path -------------------------------------------------------------------------
    def _slow(self, data: bytes, first_line: int, source: str) -> Parsed:
        columns: dict[str, list[Any]] = {name: [] for name in self.out_schema.names}
        rejects: list[Reject] = []
        records = 0
        lines, numbered = split_block(data, first_line)
        for line, raw in numbered:
            records += 1
            try:
                self._append(load_object(raw, self.max_line_bytes), columns)
            except BadLine as exc:
                rejects.append(Reject.of(source, line, str(exc), raw))
        table = pa.Table.from_pydict(columns, schema=self.out_schema)
        self.tally.rows += table.num_rows
        for name in self._optional:
            self.tally.nulls[name] += table[name].null_count
        return Parsed({self.spec.name: table}, rejects, lines, records)

    def _track_id(self, value: str) -> str | None:
        """`normalize_track_id`, remembered: a day streams the same tracks again and again."""
        cache = self._id_cache
        if value not in cache:
            if len(cache) > _ID_CACHE_ENTRIES:
                cache.clear()
            cache[value] = normalize_track_id(value)
        return cache[value]

    def _append(self, record: dict[str, Any], columns: dict[str, list[Any]]) -> None:
        """Append one record's cast values to `columns`, or raise BadLine (leaving them as they were)."""
        tally = self.tally
        tally.records += 1
        extra = {k: v for k, v in record.items() if k not in self._known and v is not None}
        if extra:
            tally.unknown.update(extra.keys())
        values: list[Any] = []
        missing = bad_id = None
        for name, aliases, cast, holds_ids in self._coercers:
            value = record.get(name)
            if value is None and aliases:
                value = next((v for n in aliases if (v := record.get(n)) is not None), None)
            if value is None:
                if name in self._required:
                    tally.missing[name] += 1
                    missing = missing or name  # counted for every required field, reported for the first
                values.append(None)
                continue
            try:
                cast_value = cast(value)
            except (ValueError, OverflowError):
                if missing:  # the first problem in field order, as before renames were counted
                    break
                dtype = self.record_schema.field(name).type
                raise BadLine(f"field {name!r}: cannot cast {show(value)} to {dtype}") from None
            if holds_ids:
                track_id = self._id_cache.get(cast_value) or self._track_id(cast_value)
                if track_id is None:
                    bad_id = bad_id or id_violation(name, value)
                cast_value = track_id
            values.append(cast_value)
        if missing:
            raise BadLine(f"missing required field {missing!r}")
        if bad_id:
            self.invalid_ids += 1
            raise InvalidTrackId(bad_id)
        for bound in self.bounds:
            if reason := bound.violation(values[self._positions[bound.field]]):
                raise BadLine(reason)
        for name, value in zip(self._names, values, strict=True):
            columns[name].append(value)
        if extra:
            self.unknown_fields.update(extra.keys())
            columns[EXTRA].append(json.dumps(extra, ensure_ascii=False, separators=(",", ":")))
        else:
            columns[EXTRA].append(None)
