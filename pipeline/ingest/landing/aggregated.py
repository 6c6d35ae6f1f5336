"""Aggregated streams: one nested record per track -> four flat tables.

Files are small (one line per track), so each line is read with `json.loads` and walked in
Python. Keys under country, gender, age and product are data and become row values, never
columns. A record that does not have the documented shape is rejected whole, with the path of
the offending field, so the four tables always agree with each other.
"""

from __future__ import annotations

import json
from collections import Counter
from typing import Any

import pyarrow as pa

from pipeline.ingest.landing.coerce import coercer_for, show
from pipeline.ingest.landing.drift import EXTRA
from pipeline.ingest.landing.lines import BadLine, load_object, split_block
from pipeline.ingest.landing.parsing import Parsed
from pipeline.ingest.landing.rejects import Reject
from pipeline.reports import AGGREGATED_COUNT, AGGREGATED_SAVES, AGGREGATED_SKIPS, AGGREGATED_SUMMARY

KNOWN_FIELDS = frozenset(
    {"date", "licensor", "trackv2", "album", "artists", "listeners", "streams", "skips", "saves"}
)
GENDER_COLUMNS = {
    "female": "female_streams",
    "male": "male_streams",
    "non_binary": "non_binary_streams",
    "unknown": "unknown_gender_streams",
}
TABLES = (AGGREGATED_SUMMARY, AGGREGATED_COUNT, AGGREGATED_SKIPS, AGGREGATED_SAVES)
_count = coercer_for(pa.int64())
_text = coercer_for(pa.string())


def _object(value: Any, path: str) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise BadLine(f"field {path!r}: expected an object, got {show(value)}")
    return value


def _number(value: Any, path: str, *, required: bool = False) -> int | None:
    if value is None:
        if required:
            raise BadLine(f"missing required field {path!r}")
        return None
    try:
        count = _count(value)
    except ValueError:
        raise BadLine(f"field {path!r}: cannot cast {show(value)} to int64") from None
    if count < 0:
        raise BadLine(f"field {path!r}: {count} is negative")  # a count cannot be
    return count


def _string(value: Any, path: str) -> str | None:
    try:
        return None if value is None else _text(value)
    except ValueError:
        raise BadLine(f"field {path!r}: cannot cast {show(value)} to string") from None


def flatten(record: dict[str, Any]) -> dict[str, list[dict[str, Any]]]:
    """Rows of the four tables for one record (without lineage), or BadLine."""
    track = _object(record.get("trackv2"), "trackv2")
    uri = _string(track.get("uri"), "trackv2.uri")
    if not uri:
        raise BadLine("missing required field 'trackv2.uri'")
    key = {"track_uri": uri, "track_id": uri.rsplit(":", 1)[-1].rsplit("/", 1)[-1]}
    album = _object(record.get("album"), "album")
    artists = record.get("artists") or []
    if not isinstance(artists, list):
        raise BadLine(f"field 'artists': expected a list, got {show(artists)}")
    artist_objects = [_object(a, f"artists[{i}]") for i, a in enumerate(artists)]
    streams = _object(record.get("streams"), "streams")
    counts, by_gender = _stream_counts(key, _object(streams.get("country"), "streams.country"))
    skips = _object(record.get("skips"), "skips")
    saves = _object(record.get("saves"), "saves")
    extra = {k: v for k, v in record.items() if k not in KNOWN_FIELDS and v is not None}
    summary = {
        **key,
        "track_name": _string(track.get("name"), "trackv2.name"),
        "isrc": _string(track.get("isrc"), "trackv2.isrc"),
        "album_name": _string(album.get("name"), "album.name"),
        "album_uri": _string(album.get("uri"), "album.uri"),
        "upc": _string(album.get("upc"), "album.upc"),
        "artist_names": [_string(a.get("name"), f"artists[{i}].name") for i, a in enumerate(artist_objects)],
        "artist_uris": [_string(a.get("uri"), f"artists[{i}].uri") for i, a in enumerate(artist_objects)],
        "listeners": _number(record.get("listeners"), "listeners"),
        "streams": _number(streams.get("total"), "streams.total"),
        "skips": _number(skips.get("total"), "skips.total"),
        "saves": _number(saves.get("total"), "saves.total"),
        **by_gender,
        EXTRA: json.dumps(extra, ensure_ascii=False, separators=(",", ":")) if extra else None,
    }
    skip_rows = []
    for country, value in _object(skips.get("country"), "skips.country").items():
        path = f"skips.country.{country}"
        amount = _number(_object(value, path).get("total"), f"{path}.total", required=True)
        skip_rows.append({**key, "country": country, "skips": amount})
    save_rows = []
    for country, value in _object(saves.get("country"), "saves.country").items():
        products = _object(
            _object(value, f"saves.country.{country}").get("product"), f"saves.country.{country}.product"
        )
        for product, amount in products.items():
            path = f"saves.country.{country}.product.{product}"
            save_rows.append(
                {**key, "country": country, "product": product, "saves": _number(amount, path, required=True)}
            )
    return {
        AGGREGATED_SUMMARY.name: [summary],
        AGGREGATED_COUNT.name: counts,
        AGGREGATED_SKIPS.name: skip_rows,
        AGGREGATED_SAVES.name: save_rows,
    }


def _stream_counts(
    key: dict[str, str], countries: dict[str, Any]
) -> tuple[list[dict[str, Any]], dict[str, int | None]]:
    """Count rows per (country, gender, age group), and streams per known gender over all countries."""
    rows: list[dict[str, Any]] = []
    totals: dict[str, int | None] = dict.fromkeys(GENDER_COLUMNS.values(), 0 if countries else None)
    for country, value in countries.items():
        genders = _object(
            _object(value, f"streams.country.{country}").get("gender"), f"streams.country.{country}.gender"
        )
        for gender, gender_value in genders.items():
            path = f"streams.country.{country}.gender.{gender}"
            gender_object = _object(gender_value, path)
            ages = _object(gender_object.get("age"), f"{path}.age")
            gender_sum = 0
            for age, amount in ages.items():
                streams = _number(amount, f"{path}.age.{age}", required=True)
                gender_sum += streams or 0
                rows.append(
                    {**key, "country": country, "gender": gender, "age_group": age, "streams": streams}
                )
            total = _number(gender_object.get("total"), f"{path}.total")
            column = GENDER_COLUMNS.get(gender)
            if column is not None:
                totals[column] = (totals[column] or 0) + (gender_sum if total is None else total)
    return rows, totals


class AggregatedParser:
    """Parses line blocks of aggregated streams into rows of the four tables."""

    def __init__(self, *, max_line_bytes: int) -> None:
        self.max_line_bytes = max_line_bytes
        self.unknown_fields: Counter[str] = Counter()
        self.schemas = {t.name: pa.schema([*t.fields, pa.field(EXTRA, pa.string())]) for t in TABLES}

    def prepare(self, data: bytes) -> None:
        """Nothing to do ahead: aggregated files are small and parsed line by line."""
        return None

    def parse(self, data: bytes, prepared: None, first_line: int, source: str) -> Parsed:
        rows: dict[str, list[dict[str, Any]]] = {name: [] for name in self.schemas}
        rejects: list[Reject] = []
        records = 0
        lines, numbered = split_block(data, first_line)
        for line, raw in numbered:
            records += 1
            try:
                record = load_object(raw, self.max_line_bytes)
                flat = flatten(record)
            except BadLine as exc:
                rejects.append(Reject.of(source, line, str(exc), raw))
                continue
            self.unknown_fields.update(
                k for k, v in record.items() if k not in KNOWN_FIELDS and v is not None
            )
            for name, table_rows in flat.items():
                rows[name].extend(table_rows)
        tables = {
            name: pa.Table.from_pylist(rows[name], schema=schema) for name, schema in self.schemas.items()
        }
        return Parsed(tables, rejects, lines, records)
