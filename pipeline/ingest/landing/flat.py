"""Flat reports (streams, sub30_streams, users, tracks): NDJSON line blocks -> typed Arrow tables.

Fast path: Arrow's JSON reader parses a whole block against the declared schema, with no Python
per row (several blocks at once, in worker threads). It is lax in ways that would hide bad lines
(blank or `null` lines, two objects on one line, invalid UTF-8, and a record cut short that swallows
the next line as a nested value: `{"a":1,"x":` + newline + `{...}}` parses as one row), so a block is
only trusted when every line starts with `{`, no line holds a second value after its object
(RE2 scans), its strings are valid UTF-8, and Arrow's row count equals the block's line count (a
memchr count): a merge of lines always loses a row, and a line can only gain one through a second
value the scans refuse. Then rows and lines match one to one. Any doubt sends that one block to the
slow path: `json.loads` per line with lossless per-field casts and precise rejects.
`tests/ingest/test_fast_path_invariant.py` corrupts clean blocks at random and checks both paths
agree on every accepted row and every reject.

Undeclared fields go to `_extra` as their original JSON text (`drift.py`), read from the raw line
on both paths. Booleans declared with text forms ("Y"/"N") are read as text when a block sends them so.

Both paths rename fields the same way (`names.py`): on the fast path an alias Arrow found is merged
into its field with `coalesce` (whole columns), so no line is parsed twice.
Track ids are normalized to base62 (`trackids.py`); per file, a `FieldTally` feeds `fieldcheck.py`.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.json as pj

from pipeline.ingest.landing.categories import NORMALIZERS, normalize_values
from pipeline.ingest.landing.coerce import coercer_for, show
from pipeline.ingest.landing.drift import EXTRA, NotAnObject, extra_text
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
_NEWLINE = 10
_COUNT_SLICE = 64 << 10  # under glibc's smallest mmap threshold: always a heap chunk
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


def count_lines(data: bytes) -> int:
    """Lines in a block (a last one without a newline counts): numpy's SIMD compare and count, 5x
    `bytes.count` (0.4 vs 2.3 ms per 4 MB block, a tenth of the block's parse time), over slices
    of `_COUNT_SLICE` so the compare's temporary is a small heap chunk used again, not 4 MB of
    fresh pages faulted in per block (5 % of a landing's page faults)."""
    octets = np.frombuffer(data, np.uint8)
    newlines = sum(
        int(np.count_nonzero(octets[start : start + _COUNT_SLICE] == _NEWLINE))
        for start in range(0, len(octets), _COUNT_SLICE)
    )
    return newlines + (not data.endswith(b"\n"))


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
    extra: pa.Array | None = None  # `_extra` per row (original JSON text), None when no row has drift


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
            (
                f.name,
                self.aliases.get(f.name, ()),
                coercer_for(f.type, spec.boolean_forms(f.name)),
                f.name in spec.track_ids,
            )
            for f in spec.fields
        ]
        self._normalizers = {name: NORMALIZERS[kind] for name, kind in spec.categories.items()}
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
        # Boolean fields whose declared forms include text ("Y"/"N"): a block that sends them as
        # text reads those as strings, then maps them through the forms (`_booleans`).
        self._bool_forms = {
            f.name: spec.boolean_forms(f.name).lookup()
            for f in self.record_schema
            if pa.types.is_boolean(f.type)
        }
        self._text_bools = [
            n for n, forms in self._bool_forms.items() if any(isinstance(k, str) for k in forms)
        ]
        self._read_schema = read_schema
        self._text_options: dict[frozenset[str], pj.ParseOptions] = {}  # by the fields sent as text
        self._last_texts: frozenset[str] = frozenset()  # what the last parsed block sent as text
        # A field sent as text somewhere in the block: RE2 finds `"name":"` at memchr speed.
        self._as_text = {name: rf'"{re.escape(name)}"[ \t]*:[ \t]*"' for name in self._text_bools}
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
            table = self._read(data, view)
            if table is None:
                return None
            if table.num_rows != count_lines(data):
                return None  # lines merged (a record cut short swallowed the next): the slow path says which
            if not data.isascii() or _matches(view, _SURROGATE_ESCAPE):
                table.validate(full=True)  # invalid UTF-8, or a lone surrogate from a \ud800 escape
            for name in self._timestamps:
                index = table.schema.get_field_index(name)
                if index >= 0:
                    declared = self.record_schema.field(name).type
                    table = table.set_column(index, name, pc.cast(table[name], declared))
            table = self._renamed(table)
            extra = self._extra(table, data)
        except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError, _Retype, NotAnObject):
            return None
        except UnicodeDecodeError:  # in a line with drift: the slow path rejects it
            return None
        bad_ids = {}
        for name in self.spec.track_ids:
            column, bad = normalize_column(table[name])
            table = table.set_column(table.schema.get_field_index(name), name, column)
            if bad is not None:
                bad_ids[name] = bad
        for name, kind in self.spec.categories.items():
            position = table.schema.get_field_index(name)
            table = table.set_column(position, name, normalize_values(kind, table[name]))
        return Prepared(table, bad_ids, extra)

    def _read(self, data: bytes, view: pa.Array) -> pa.Table | None:
        """Arrow's parse, the boolean fields the block sends as text ("Y"/"N") read as strings and
        mapped through their declared forms (`_booleans`); None when Arrow refuses the block.

        The fields the previous block sent as text are tried first (a day is written one way), so
        the search for them (an RE2 scan per field: `"` is everywhere in JSON, no memchr skip) runs
        only when that parse fails, not on every block.
        """
        tried = self._last_texts
        table = self._parse_as(data, tried)
        if table is not None or not self._as_text:
            return table
        texts = frozenset(n for n, pattern in self._as_text.items() if _matches(view, pattern))
        if texts == tried:
            return None
        table = self._parse_as(data, texts)
        if table is not None:
            self._last_texts = texts
        return table

    def _parse_as(self, data: bytes, texts: frozenset[str]) -> pa.Table | None:
        options = self._parse_options if not texts else self._text_options.get(texts)
        if options is None:
            schema = pa.schema(
                [pa.field(f.name, pa.string()) if f.name in texts else f for f in self._read_schema]
            )
            options = pj.ParseOptions(
                explicit_schema=schema, unexpected_field_behavior="infer", newlines_in_values=False
            )
            self._text_options[texts] = options
        try:
            table = pj.read_json(
                pa.BufferReader(data), read_options=self._read_options, parse_options=options
            )
        except pa.ArrowInvalid:
            return None
        return self._booleans(table, texts) if texts else table

    def _booleans(self, table: pa.Table, texts: frozenset[str]) -> pa.Table | None:
        """Text-read boolean columns mapped through their declared forms; None if a value is in none."""
        for name in texts:
            column = table[name]
            if column.null_count == len(column):
                table = table.set_column(table.schema.get_field_index(name), name, column.cast(pa.bool_()))
                continue
            values = self._text_to_bool(name, column)
            if values is None:
                return None  # a value in no declared form: the slow path rejects its line with the reason
            table = table.set_column(table.schema.get_field_index(name), name, values)
        return table

    def _text_to_bool(self, name: str, column: pa.ChunkedArray) -> pa.Array | None:
        """A text column of a boolean field mapped through its declared forms; None if one is in none."""
        encoded = pc.dictionary_encode(column).combine_chunks()
        forms = self._bool_forms[name]
        mapped = [forms.get(v.lower()) for v in encoded.dictionary.to_pylist()]
        if None in mapped:
            return None
        return pa.array(mapped, pa.bool_()).take(encoded.indices)

    def _extra(self, table: pa.Table, data: bytes) -> pa.Array | None:
        """Per row, `_extra` from the raw line (original JSON text), for rows with undeclared fields."""
        names = [n for n in table.column_names if n not in self._declared]
        if not names:
            return None
        present = pc.is_valid(table[names[0]])
        for name in names[1:]:
            present = pc.or_(present, pc.is_valid(table[name]))
        rows = pc.indices_nonzero(present).to_pylist()
        texts: list[str | None] = [None] * table.num_rows
        if rows:
            lines = data.split(b"\n")
            for row in rows:
                texts[row] = extra_text(lines[row].decode("utf-8"), self._known)
        return pa.array(texts, pa.string())

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
        if name in self._text_bools and pa.types.is_string(column.type):
            mapped = self._text_to_bool(name, column)
            if mapped is not None:
                return mapped
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
        extra = prepared.extra
        lines = table.num_rows  # one row per line: checked in `prepare`
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
                keep = pc.invert(mask)
                table = table.filter(keep)
                extra = None if extra is None else extra.filter(keep)
        tally.rows += table.num_rows
        for name in self._optional:
            tally.nulls[name] += table[name].null_count
        for name in extra_names:
            present = table.num_rows - table[name].null_count
            if present:
                self.unknown_fields[name] += present
        if extra is None:
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
                record, text = load_object(raw, self.max_line_bytes, with_text=True)
                self._append(record, text, columns)
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

    def _append(self, record: dict[str, Any], text: str, columns: dict[str, list[Any]]) -> None:
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
                if pa.types.is_boolean(dtype):
                    forms = self.spec.boolean_forms(name).describe()
                    raise BadLine(f"field {name!r}: {show(value)} is not a boolean ({forms})") from None
                raise BadLine(f"field {name!r}: cannot cast {show(value)} to {dtype}") from None
            if name in self._normalizers and type(cast_value) is str:
                cast_value = self._normalizers[name](cast_value)
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
            columns[EXTRA].append(extra_text(text, self._known))  # as sent, not re-encoded
        else:
            columns[EXTRA].append(None)
