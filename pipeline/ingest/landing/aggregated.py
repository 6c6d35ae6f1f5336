"""Aggregated streams: one nested record per track -> four flat tables.

Files are small (one line per track), so each line is read with `json.loads` and walked in
Python. Keys under country, gender, age and product are data and become row values, never
columns. Three shapes are read (see the wire contract): the nested one (country x gender x age,
listeners, artists, `uri`s), the totals one (country totals only, ids from `href`, saves by plan at
the top) and a public production client's (`streams.<CC>.<GENDER>.<age>` with a `"total"` at each
level and no level names; `coded_levels` rewrites it to the nested one, checking every key is a
country code, a gender or an age bucket). Gender and age labels are normalized (`categories.py`).
Per file, a field every record lacks (`streams` renamed, say) fails the load (`fieldcheck.py`).
Where a level is absent its columns are null (a country total has gender and
age null) rather than invented. A record with bad values is rejected whole, with the path of the
offending field, so the four tables always agree; a record with structural keys the reader does
not know fails the load (`UnknownShapeError`), since its counts would otherwise be lost unseen.
Track ids from `uri` or `href` are normalized to base62; one of no known form rejects the record.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from typing import Any

import pyarrow as pa

from pipeline.ingest.landing.categories import age_group, gender
from pipeline.ingest.landing.coerce import coercer_for, show
from pipeline.ingest.landing.drift import EXTRA, extra_text
from pipeline.ingest.landing.errors import LandingError
from pipeline.ingest.landing.fieldcheck import FieldTally
from pipeline.ingest.landing.lines import BadLine, load_object, split_block
from pipeline.ingest.landing.parsing import Parsed
from pipeline.ingest.landing.rejects import Reject
from pipeline.ingest.landing.trackids import InvalidTrackId, id_violation
from pipeline.reports import AGGREGATED_COUNT, AGGREGATED_SAVES, AGGREGATED_SKIPS, AGGREGATED_SUMMARY
from pipeline.spotify_ids import normalize_track_id

KNOWN_FIELDS = frozenset(
    {"date", "licensor", "trackv2", "album", "artists", "listeners", "streams", "skips", "saves"}
)
# The keys each counting level may hold; any other key there is a shape we do not know.
_LEVEL_KEYS = {
    "streams": {"total", "country"},
    "streams.country": {"total", "gender"},
    "streams.country.gender": {"total", "age"},
    "skips": {"total", "country"},
    "skips.country": {"total"},
    "saves": {"total", "country", "product"},
    "saves.country": {"total", "product"},
}
GENDER_COLUMNS = {
    "female": "female_streams",
    "male": "male_streams",
    "non_binary": "non_binary_streams",
    "unknown": "unknown_gender_streams",
}
REQUIRED_FIELDS = ("trackv2", "streams")  # a file without them in any record is a renamed field
_COUNTRY_CODE = re.compile(r"[A-Z]{2}")
_AGE_LABEL = re.compile(r"[0-9]{1,3}-[0-9]{1,3}|[0-9]{1,3}\+|unknown")
_PRODUCT = re.compile(r"[a-z][a-z_]*")
TABLES = (AGGREGATED_SUMMARY, AGGREGATED_COUNT, AGGREGATED_SKIPS, AGGREGATED_SAVES)
SAMPLE_CHARS = 400
_count = coercer_for(pa.int64())
_text = coercer_for(pa.string())


class UnknownShapeError(LandingError):
    """An aggregated record whose structure the reader does not know: reading on would lose counts."""


class _Shape(Exception):
    """Raised inside `flatten` for a structural surprise; the parser turns it into UnknownShapeError."""


def skeleton(value: Any, limit: int = SAMPLE_CHARS) -> str:
    """The record's keys with every leaf value replaced by its type: a sample free of data values."""

    def strip(node: Any) -> Any:
        if isinstance(node, dict):
            return {str(k)[:40]: strip(v) for k, v in node.items()}
        if isinstance(node, list):
            return [strip(v) for v in node[:3]]
        return None if node is None else type(node).__name__

    text = json.dumps(strip(value), ensure_ascii=False, separators=(",", ":"))
    return text if len(text) <= limit else text[: limit - 1] + "…"


def coded_levels(value: Any, path: str, kind: str) -> Any:
    """A `streams`, `skips` or `saves` object in the coded shape (`{"total": 5, "SE": {"total": 3,
    "FEMALE": {"total": 3, "23-27": 3}}}`) rewritten to the nested shape; others returned as they are.

    The coded shape has no level names, so each key must be what its level holds (a country code,
    a gender, an age bucket or a plan): any other key is a shape we do not know (`_Shape`).
    """
    if not isinstance(value, dict) or "country" in value or set(value) <= {"total", "product"}:
        return value
    countries = {}
    for code, inner in value.items():
        if code == "total":
            continue
        if not _COUNTRY_CODE.fullmatch(code):
            raise _Shape(f"unknown key {code!r} under {path!r} (neither a level name nor a country code)")
        countries[code] = _coded_country(inner, f"{path}.{code}", kind)
    return {"total": value.get("total"), "country": countries}


def _coded_country(value: Any, path: str, kind: str) -> Any:
    if not isinstance(value, dict):
        return {"total": value}  # a bare number: the country's total
    total = value.get("total")
    inner = {k: v for k, v in value.items() if k != "total"}
    if kind == "skips" or not inner:
        if inner:
            raise _Shape(f"unknown key(s) {', '.join(sorted(map(repr, inner)))} under {path!r}")
        return {"total": total}
    if kind == "saves":
        if bad := [k for k in inner if not _PRODUCT.fullmatch(k)]:
            raise _Shape(f"unknown key {bad[0]!r} under {path!r} (not a plan)")
        return {"total": total, "product": inner}
    genders = {}
    for name, ages in inner.items():
        if gender(name) not in GENDER_COLUMNS:
            raise _Shape(f"unknown key {name!r} under {path!r} (neither a level name nor a gender)")
        genders[name] = _coded_gender(ages, f"{path}.{name}")
    return {"total": total, "gender": genders}


def _coded_gender(value: Any, path: str) -> Any:
    if not isinstance(value, dict):
        return {"total": value}  # a number: the gender's total, without an age breakdown
    ages = {k: v for k, v in value.items() if k != "total"}
    if bad := [k for k in ages if not _AGE_LABEL.fullmatch(age_group(k))]:
        raise _Shape(f"unknown key {bad[0]!r} under {path!r} (not an age bucket)")
    return {"total": value.get("total"), "age": ages} if ages else {"total": value.get("total")}


def _level(value: Any, path: str, level: str) -> dict[str, Any]:
    """An object of a counting level, checked for keys of no known shape."""
    found = _object(value, path)
    if unknown := set(found) - _LEVEL_KEYS[level]:
        raise _Shape(f"unknown key(s) {', '.join(sorted(map(repr, unknown)))} under {path!r}")
    return found


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


def _track_key(track: dict[str, Any]) -> dict[str, str]:
    """`track_uri` and base62 `track_id` from `trackv2.uri`, else from `trackv2.href`."""
    uri = _string(track.get("uri"), "trackv2.uri")
    href = _string(track.get("href"), "trackv2.href")
    if uri:
        path, given = "trackv2.uri", uri
    elif href and "/tracks/" in href:
        path, given = "trackv2.href", href.split("?", 1)[0].rstrip("/").rsplit("/tracks/", 1)[-1]
    else:
        raise BadLine("missing required field 'trackv2.uri' (or a track 'trackv2.href')")
    track_id = normalize_track_id(given)
    if track_id is None:
        raise InvalidTrackId(id_violation(path, uri or href))
    return {"track_uri": f"spotify:track:{track_id}", "track_id": track_id}


def _album_uri(album: dict[str, Any]) -> str | None:
    uri = _string(album.get("uri"), "album.uri")
    href = _string(album.get("href"), "album.href")
    if uri or not href or "/albums/" not in href:
        return uri
    return f"spotify:album:{href.split('?', 1)[0].rstrip('/').rsplit('/albums/', 1)[-1]}"


def flatten(record: dict[str, Any]) -> dict[str, list[dict[str, Any]]]:
    """Rows of the four tables for one record (without lineage), or BadLine, or _Shape."""
    if "trackv2" not in record:
        raise _Shape("no 'trackv2'")
    track = _object(record.get("trackv2"), "trackv2")
    key = _track_key(track)
    album = _object(record.get("album"), "album")
    artists = record.get("artists")
    if artists is not None and not isinstance(artists, list):
        raise BadLine(f"field 'artists': expected a list, got {show(artists)}")
    artist_objects = [_object(a, f"artists[{i}]") for i, a in enumerate(artists or [])]
    streams = _level(coded_levels(record.get("streams"), "streams", "streams"), "streams", "streams")
    counts, by_gender = _stream_counts(key, _object(streams.get("country"), "streams.country"))
    skips = _level(coded_levels(record.get("skips"), "skips", "skips"), "skips", "skips")
    saves = _level(coded_levels(record.get("saves"), "saves", "saves"), "saves", "saves")
    summary = {
        **key,
        "track_name": _string(track.get("name"), "trackv2.name"),
        "isrc": _string(track.get("isrc"), "trackv2.isrc"),
        "album_name": _string(album.get("name"), "album.name"),
        "album_uri": _album_uri(album),
        "upc": _string(album.get("upc"), "album.upc"),
        "artist_names": None
        if artists is None
        else [_string(a.get("name"), f"artists[{i}].name") for i, a in enumerate(artist_objects)],
        "artist_uris": None
        if artists is None
        else [_string(a.get("uri"), f"artists[{i}].uri") for i, a in enumerate(artist_objects)],
        "listeners": _number(record.get("listeners"), "listeners"),
        "streams": _number(streams.get("total"), "streams.total"),
        "skips": _number(skips.get("total"), "skips.total"),
        "saves": _number(saves.get("total"), "saves.total"),
        **by_gender,
        EXTRA: None,  # filled by the parser from the raw line (original JSON text)
    }
    skip_rows = []
    for country, value in _object(skips.get("country"), "skips.country").items():
        path = f"skips.country.{country}"
        amount = _number(_level(value, path, "skips.country").get("total"), f"{path}.total", required=True)
        skip_rows.append({**key, "country": country, "skips": amount})
    return {
        AGGREGATED_SUMMARY.name: [summary],
        AGGREGATED_COUNT.name: counts,
        AGGREGATED_SKIPS.name: skip_rows,
        AGGREGATED_SAVES.name: _save_rows(key, saves),
    }


def _save_rows(key: dict[str, str], saves: dict[str, Any]) -> list[dict[str, Any]]:
    """Per country and plan; a country without plans is one row with product null; a plan split
    given only over all countries (totals shape) is rows with country null."""
    rows: list[dict[str, Any]] = []
    for country, value in _object(saves.get("country"), "saves.country").items():
        path = f"saves.country.{country}"
        country_object = _level(value, path, "saves.country")
        products = country_object.get("product")
        if products is None:
            total = _number(country_object.get("total"), f"{path}.total", required=True)
            rows.append({**key, "country": country, "product": None, "saves": total})
            continue
        for product, amount in _object(products, f"{path}.product").items():
            amount = _number(amount, f"{path}.product.{product}", required=True)
            rows.append({**key, "country": country, "product": product, "saves": amount})
    if not any(row["product"] for row in rows):  # never the same saves twice by plan
        for product, amount in _object(saves.get("product"), "saves.product").items():
            amount = _number(amount, f"saves.product.{product}", required=True)
            rows.append({**key, "country": None, "product": product, "saves": amount})
    return rows


def _stream_counts(
    key: dict[str, str], countries: dict[str, Any]
) -> tuple[list[dict[str, Any]], dict[str, int | None]]:
    """Count rows per (country, gender, age group), and streams per known gender over all countries.

    A country without genders is one row with gender and age null; a gender without ages one row
    with age null. Gender totals are null when no country has genders.
    """
    rows: list[dict[str, Any]] = []
    totals: dict[str, int | None] = dict.fromkeys(GENDER_COLUMNS.values())
    for country, value in countries.items():
        country_path = f"streams.country.{country}"
        country_object = _level(value, country_path, "streams.country")
        if country_object.get("gender") is None:
            total = _number(country_object.get("total"), f"{country_path}.total", required=True)
            rows.append({**key, "country": country, "gender": None, "age_group": None, "streams": total})
            continue
        totals = {column: so_far or 0 for column, so_far in totals.items()}
        for sent, gender_value in _object(country_object["gender"], f"{country_path}.gender").items():
            path = f"{country_path}.gender.{sent}"
            normal = gender(sent)
            gender_object = _level(gender_value, path, "streams.country.gender")
            total = _number(gender_object.get("total"), f"{path}.total")
            ages = gender_object.get("age")
            if ages is None:
                total = _number(total, f"{path}.total", required=True)
                rows.append(
                    {**key, "country": country, "gender": normal, "age_group": None, "streams": total}
                )
                gender_sum = total or 0
            else:
                gender_sum = 0
                for age, amount in _object(ages, f"{path}.age").items():
                    streams = _number(amount, f"{path}.age.{age}", required=True)
                    gender_sum += streams or 0
                    rows.append(
                        {
                            **key,
                            "country": country,
                            "gender": normal,
                            "age_group": age_group(age),
                            "streams": streams,
                        }
                    )
            column = GENDER_COLUMNS.get(normal)
            if column is not None:
                totals[column] = (totals[column] or 0) + (gender_sum if total is None else total)
    return rows, totals


class AggregatedParser:
    """Parses line blocks of aggregated streams into rows of the four tables."""

    def __init__(self, *, max_line_bytes: int) -> None:
        self.max_line_bytes = max_line_bytes
        self.unknown_fields: Counter[str] = Counter()
        self.invalid_ids = 0
        self.schemas = {t.name: pa.schema([*t.fields, pa.field(EXTRA, pa.string())]) for t in TABLES}
        self.tally = FieldTally()

    def finish_file(self) -> FieldTally:
        """What the file's records held: the required top-level fields each lacked, unknown fields."""
        tally, self.tally = self.tally, FieldTally()
        return tally

    def _tally(self, record: dict[str, Any]) -> None:
        tally = self.tally
        tally.records += 1
        for name in REQUIRED_FIELDS:
            tally.missing[name] += record.get(name) is None
        tally.unknown.update(k for k, v in record.items() if k not in KNOWN_FIELDS and v is not None)

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
                record, text = load_object(raw, self.max_line_bytes, with_text=True)
                self._tally(record)
                flat = flatten(record)
            except BadLine as exc:
                self.invalid_ids += isinstance(exc, InvalidTrackId)
                rejects.append(Reject.of(source, line, str(exc), raw))
                continue
            except _Shape as exc:
                raise UnknownShapeError(
                    f"aggregated streams: line {line} of {source} has a shape the reader does not know "
                    f"({exc}); record skeleton: {skeleton(record)} — see the wire contract's two shapes"
                ) from None
            self.unknown_fields.update(
                k for k, v in record.items() if k not in KNOWN_FIELDS and v is not None
            )
            if any(k not in KNOWN_FIELDS and v is not None for k, v in record.items()):
                flat[AGGREGATED_SUMMARY.name][0][EXTRA] = extra_text(text, KNOWN_FIELDS)
            self.tally.rows += 1
            for name, table_rows in flat.items():
                rows[name].extend(table_rows)
        tables = {
            name: pa.Table.from_pylist(rows[name], schema=schema) for name, schema in self.schemas.items()
        }
        return Parsed(tables, rejects, lines, records)
