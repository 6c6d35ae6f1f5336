"""Field names on the wire -> the registry's names: the registry's aliases plus the user's field map.

The Bulk API's field names are not public, and warehouses built on it rename them, so a renamed
field must be one line of configuration, never a column of nulls. The field map
(`SPOTIFY_BULK_FIELD_MAP`) is TOML or JSON, one section per lake table, `declared = "wire name"`
(or a list of names):

    [streams]
    source = "stream_source"

`[sub30_streams]` falls back to `[streams]` (the two reports have one record shape). Map entries
are tried before the registry's aliases; the declared name itself always wins when present.

A section of a personal report may also list undeclared fields that are *not* personal, so their
values land in `_extra` as sent even when pseudonymization is on (`personal.py`):

    [streams]
    not_personal = ["device_class", "episode_id"]
"""

from __future__ import annotations

import json
import tomllib
from collections.abc import Mapping
from pathlib import Path

from pipeline.config import FIELD_MAP_ENV
from pipeline.ingest.landing.errors import LandingError
from pipeline.reports import SUB30_STREAMS, TABLES_BY_NAME, TableSpec

FieldMap = Mapping[str, Mapping[str, tuple[str, ...]]]  # table -> declared field -> wire names
NOT_PERSONAL = "not_personal"  # the section key listing undeclared fields that identify no one


class FieldMapError(LandingError):
    """The field map file is unreadable or names a table or field the registry does not declare."""


def load_field_map(path: Path | None) -> FieldMap:
    """The field map in `path` (TOML, or JSON for a `.json` file), checked against the registry."""
    if path is None:
        return {}
    try:
        text = path.read_text("utf-8")
        document = json.loads(text) if path.suffix.lower() == ".json" else tomllib.loads(text)
    except (OSError, ValueError) as exc:  # TOMLDecodeError and JSONDecodeError are ValueErrors
        raise FieldMapError(f"{FIELD_MAP_ENV}={path}: cannot read it ({exc})") from None
    if not isinstance(document, dict):
        raise FieldMapError(f"{FIELD_MAP_ENV}={path}: expected a table of tables, e.g. [streams]")
    return {table: _section(path, table, entries) for table, entries in document.items()}


def _section(path: Path, table: str, entries: object) -> dict[str, tuple[str, ...]]:
    spec = TABLES_BY_NAME.get(table)
    if spec is None or spec.name.startswith("aggregated_"):
        known = ", ".join(n for n in TABLES_BY_NAME if not n.startswith("aggregated_"))
        raise FieldMapError(f"{FIELD_MAP_ENV}={path}: unknown table [{table}]: expected one of {known}")
    if not isinstance(entries, dict):
        raise FieldMapError(f"{FIELD_MAP_ENV}={path}: [{table}] must map field names to wire names")
    declared = set(spec.record_schema.names)
    out = {}
    for name, wire in entries.items():
        names = (wire,) if isinstance(wire, str) else wire
        if name == NOT_PERSONAL and name not in declared:
            if not spec.personal:
                raise FieldMapError(
                    f"{FIELD_MAP_ENV}={path}: [{table}] {name}: {table} holds no personal data, "
                    "its undeclared fields are always kept as sent"
                )
            if not isinstance(names, list | tuple) or not all(isinstance(n, str) and n for n in names):
                raise FieldMapError(
                    f"{FIELD_MAP_ENV}={path}: [{table}] {name}: expected a list of field names"
                )
            if clash := declared.intersection(names):
                raise FieldMapError(
                    f"{FIELD_MAP_ENV}={path}: [{table}] {name}: {sorted(clash)[0]!r} is a declared field"
                )
            out[name] = tuple(names)
            continue
        if name not in declared:
            raise FieldMapError(f"{FIELD_MAP_ENV}={path}: [{table}] has no field {name!r}")
        if not isinstance(names, list | tuple) or not all(isinstance(n, str) and n for n in names):
            raise FieldMapError(
                f"{FIELD_MAP_ENV}={path}: [{table}] {name}: expected a name or a list of names"
            )
        if clash := declared.intersection(names):
            raise FieldMapError(
                f"{FIELD_MAP_ENV}={path}: [{table}] {name}: {sorted(clash)[0]!r} is a declared field itself"
            )
        out[name] = tuple(names)
    return out


def aliases_for(spec: TableSpec, field_map: FieldMap) -> dict[str, tuple[str, ...]]:
    """Declared field -> the other names it may arrive under, the field map's first."""
    mapped = field_map.get(spec.name)
    if mapped is None and spec.name == SUB30_STREAMS.name:
        mapped = field_map.get("streams")
    merged: dict[str, tuple[str, ...]] = {}
    for name in spec.record_schema.names:
        names = (*(mapped or {}).get(name, ()), *spec.aliases.get(name, ()))
        if names:
            merged[name] = tuple(dict.fromkeys(names))
    taken: dict[str, str] = {}
    for name, names in merged.items():
        for wire in names:
            if taken.setdefault(wire, name) != name:
                raise FieldMapError(f"{spec.name}: {wire!r} is mapped to both {taken[wire]!r} and {name!r}")
    return merged


def not_personal_for(table: str, field_map: FieldMap) -> frozenset[str]:
    """Undeclared fields of `table` the user listed as not personal (`[sub30_streams]` falls back
    to `[streams]`)."""
    mapped = field_map.get(table)
    if mapped is None and table == SUB30_STREAMS.name:
        mapped = field_map.get("streams")
    return frozenset((mapped or {}).get(NOT_PERSONAL, ()))
