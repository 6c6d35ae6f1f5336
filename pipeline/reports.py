"""The one registry of Bulk API reports and the lake tables they land in.

Everything per report or table lives here: the API path, which parser reads it, the lake tables,
their Arrow schemas, required fields, sort order, personal columns, value bounds (stream lengths
among them) and the forms each boolean field is accepted in. The emulator, the client, landing and
the Dagster assets read it, so adding a report is a change here plus its SQL staging model, and
nothing can drift apart.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import pyarrow as pa

UTC_MICROS = pa.timestamp("us", tz="UTC")

# Lineage and drift columns every lake table carries (besides the Hive columns licensor and date).
LINEAGE_FIELDS: tuple[pa.Field, ...] = (
    pa.field("_extra", pa.string()),  # JSON object of fields the schema does not declare, or null
    pa.field("_source_file", pa.string()),  # archive path of the file the row came from
    pa.field("_loaded_at", UTC_MICROS),
)

_STREAM_FIELDS = [
    pa.field("timestamp", UTC_MICROS),
    pa.field("user_id", pa.string()),
    pa.field("track_id", pa.string()),
    pa.field("isrc", pa.string()),
    pa.field("country", pa.string()),
    pa.field("region_code", pa.string()),
    pa.field("source", pa.string()),
    pa.field("source_uri", pa.string()),
    pa.field("stream_length", pa.int64()),
    pa.field("device_type", pa.string()),
    pa.field("os", pa.string()),
    pa.field("access", pa.string()),
    pa.field("cached", pa.bool_()),
    pa.field("shuffle", pa.bool_()),
    pa.field("offline", pa.bool_()),
    pa.field("completion", pa.bool_()),
    pa.field("discovery", pa.bool_()),
]


# Names real warehouses built on the Bulk API use for the contract's fields (declared -> wire names).
_STREAM_ALIASES: dict[str, tuple[str, ...]] = {
    "source": ("stream_source",),
    "source_uri": ("stream_source_uri",),
    "cached": ("stream_cached",),
    "device_type": ("stream_device",),
    "os": ("stream_os",),
    "user_id": ("customer_id",),
    "country": ("country_code",),
    "completion": ("completion_flag",),  # a public production client's names, "Y"/"N" values
    "discovery": ("discovery_flag",),
}
_USER_ALIASES: dict[str, tuple[str, ...]] = {
    "user_id": ("customer_id",),
    "country": ("country_code",),
    "product": ("user_product_type",),
}

# The Bulk API's age buckets, as the marts group them; `categories.py` maps other spellings here.
AGE_GROUPS = ("0-17", "18-22", "23-27", "28-34", "35-44", "45-59", "60-150", "unknown")
GENDERS = ("female", "male", "non_binary", "unknown")

REPORT_YEAR = "report_year"  # a bound's high end: the year of the report's day
SUB30_LIMIT_MS = 30_000  # a stream is 30 s or more; sub-30 streams are shorter


@dataclass(frozen=True)
class FieldBound:
    """An inclusive range a numeric field's values must lie in (plausibility; `None` is open)."""

    field: str
    low: int | None
    high: int | Literal["report_year"] | None = None
    below: str = ""  # what to say of a value under `low` (default: "is negative", "is before ...")
    above: str = ""  # what to say of a value over `high` (default: "is above ...")


@dataclass(frozen=True)
class BooleanForms:
    """The spellings a boolean field is accepted in besides JSON `true`/`false` (matched ignoring
    case for text). Any other value is a rejected line whose reason names the field and the value."""

    true: tuple[str | int, ...]
    false: tuple[str | int, ...]

    def lookup(self) -> dict[str | int, bool]:
        """Wire value (text lower-cased) -> the boolean it means."""
        table: dict[str | int, bool] = {}
        for truth, values in ((True, self.true), (False, self.false)):
            for value in values:
                table[value.lower() if isinstance(value, str) else value] = truth
        return table

    def describe(self) -> str:
        return "true/false, " + ", ".join(f"{t!r}/{f!r}" for t, f in zip(self.true, self.false, strict=True))


TEXT_BOOLEANS = BooleanForms(true=("true", 1), false=("false", 0))  # every boolean field
# The forms real Bulk API files use for stream flags (a public production client compares
# `completion_flag` with "Y").
FLAG_BOOLEANS = BooleanForms(true=("true", "Y", 1), false=("false", "N", 0))
_STREAM_BOOLEANS = dict.fromkeys(("cached", "shuffle", "offline", "completion", "discovery"), FLAG_BOOLEANS)


@dataclass(frozen=True)
class TableSpec:
    """A lake table: its declared record schema, required fields, sort order and rules.

    `personal` columns identify listeners (pseudonymized at landing when that is on); `location`
    columns sit below country level (dropped when asked); `bounds` reject implausible values.
    `categories` are string fields whose spellings are normalized at landing (`categories.py`).
    `booleans` declares, per boolean field, the text and number forms it is accepted in (every
    boolean field takes JSON booleans, "true"/"false" and 1/0; see `BooleanForms`).
    `aliases` are other names a field arrives under (real warehouses rename them; the user's field
    map, `SPOTIFY_BULK_FIELD_MAP`, adds more); `track_ids` are columns normalized to base62 ids.
    """

    name: str
    fields: tuple[pa.Field, ...]
    required: tuple[str, ...]
    sort_by: tuple[str, ...]
    description: str = ""
    personal: tuple[str, ...] = ()
    location: tuple[str, ...] = ()
    bounds: tuple[FieldBound, ...] = ()
    booleans: dict[str, BooleanForms] = field(default_factory=dict, hash=False)
    categories: dict[str, str] = field(default_factory=dict, hash=False)  # field -> `categories.py` kind
    seconds_check: bool = False  # the gate tests whether `stream_length` came in seconds (gate.py)
    aliases: dict[str, tuple[str, ...]] = field(default_factory=dict, hash=False)
    track_ids: tuple[str, ...] = ()

    def boolean_forms(self, name: str) -> BooleanForms:
        """The forms the boolean field `name` is accepted in."""
        return self.booleans.get(name, TEXT_BOOLEANS)

    @property
    def record_schema(self) -> pa.Schema:
        """The declared fields of one record, without lineage columns."""
        return pa.schema(list(self.fields))

    @property
    def schema(self) -> pa.Schema:
        """The full Parquet schema: declared fields, then `_extra`, `_source_file`, `_loaded_at`."""
        return pa.schema([*self.fields, *LINEAGE_FIELDS])


@dataclass(frozen=True)
class ReportSpec:
    """A Bulk API report: where it lives on the API and which lake tables it lands in."""

    name: str  # our name, used in the CLI, the archive and asset keys
    api_name: str  # the path segment under /{licensor}/enhanced/
    per_country: bool  # one file per country under the day listing
    tables: tuple[TableSpec, ...]
    parser: Literal["flat", "aggregated"] = "flat"  # one record per row, or one nested record per track


STREAMS = TableSpec(
    name="streams",
    fields=tuple(_STREAM_FIELDS),
    required=("timestamp", "user_id", "track_id", "country", "stream_length"),
    sort_by=("country", "track_id", "timestamp"),
    description="One row per stream of 30 seconds or more (Bulk API streams report).",
    personal=("user_id",),
    location=("region_code",),
    # A stream of this report lasts 30 s or more: a shorter one is a rejected line (counted in the
    # reject share), not a blocked day.
    bounds=(
        FieldBound(
            "stream_length",
            SUB30_LIMIT_MS,
            below=f"is under {SUB30_LIMIT_MS} ms: not a stream of 30 s or more (or lengths in seconds?)",
        ),
    ),
    booleans=_STREAM_BOOLEANS,
    aliases=_STREAM_ALIASES,
    track_ids=("track_id",),
)
SUB30_STREAMS = TableSpec(
    name="sub30_streams",
    fields=tuple(_STREAM_FIELDS),
    required=STREAMS.required,
    sort_by=STREAMS.sort_by,
    description="One row per stream shorter than 30 seconds (Bulk API sub_30_sec_streams report).",
    personal=STREAMS.personal,
    location=STREAMS.location,
    bounds=(
        FieldBound(
            "stream_length",
            0,
            SUB30_LIMIT_MS - 1,
            above=f"is {SUB30_LIMIT_MS} ms or more: not a sub-30 stream",
        ),
    ),
    booleans=STREAMS.booleans,
    seconds_check=True,
    aliases=STREAMS.aliases,
    track_ids=STREAMS.track_ids,
)
USERS = TableSpec(
    name="users",
    fields=(
        pa.field("user_id", pa.string()),
        pa.field("birth_year", pa.int32()),
        pa.field("gender", pa.string()),
        pa.field("country", pa.string()),
        pa.field("region_code", pa.string()),
        pa.field("product", pa.string()),
        pa.field("account_age_days", pa.int32()),
    ),
    required=("user_id",),
    sort_by=("country", "user_id"),
    description="One row per user who streamed that day: demographics and product.",
    personal=("user_id",),
    location=("region_code",),
    bounds=(FieldBound("birth_year", 1900, REPORT_YEAR), FieldBound("account_age_days", 0)),
    aliases=_USER_ALIASES,
    categories={"gender": "gender"},
)
TRACKS = TableSpec(
    name="tracks",
    fields=(
        pa.field("track_id", pa.string()),
        pa.field("track_uri", pa.string()),
        pa.field("isrc", pa.string()),
        pa.field("track_name", pa.string()),
        pa.field("artist_names", pa.list_(pa.string())),
        pa.field("album_name", pa.string()),
        pa.field("album_uri", pa.string()),
        pa.field("upc", pa.string()),
        pa.field("label", pa.string()),
        pa.field("duration_ms", pa.int64()),
        pa.field("release_date", pa.string()),  # YYYY-MM-DD, YYYY-MM or YYYY: kept as given
        pa.field("explicit", pa.bool_()),
    ),
    required=("track_id",),
    sort_by=("track_id",),
    description="One row per track streamed that day: catalog metadata as the Bulk API reports it.",
    bounds=(FieldBound("duration_ms", 1),),
    track_ids=("track_id",),
)

# Aggregated streams arrive nested; these are the four flat tables they land in.
_TRACK_KEY = (pa.field("track_uri", pa.string()), pa.field("track_id", pa.string()))
AGGREGATED_SUMMARY = TableSpec(
    name="aggregated_summary",
    fields=(
        *_TRACK_KEY,
        pa.field("track_name", pa.string()),
        pa.field("isrc", pa.string()),
        pa.field("album_name", pa.string()),
        pa.field("album_uri", pa.string()),
        pa.field("upc", pa.string()),
        pa.field("artist_names", pa.list_(pa.string())),
        pa.field("artist_uris", pa.list_(pa.string())),
        pa.field("listeners", pa.int64()),
        pa.field("streams", pa.int64()),
        pa.field("skips", pa.int64()),
        pa.field("saves", pa.int64()),
        pa.field("female_streams", pa.int64()),
        pa.field("male_streams", pa.int64()),
        pa.field("non_binary_streams", pa.int64()),
        pa.field("unknown_gender_streams", pa.int64()),
    ),
    required=("track_uri",),
    sort_by=("track_uri",),
    description="One row per track and day: totals, listeners and streams by gender (aggregated streams).",
)
AGGREGATED_COUNT = TableSpec(
    name="aggregated_count",
    fields=(
        *_TRACK_KEY,
        pa.field("country", pa.string()),
        pa.field("gender", pa.string()),
        pa.field("age_group", pa.string()),
        pa.field("streams", pa.int64()),
    ),
    # The totals shape has no gender or age: then a row is a country total, gender and age null.
    required=("track_uri", "country", "streams"),
    sort_by=("country", "track_uri", "gender", "age_group"),
    description=(
        "One row per track, country, gender and age group: streams (aggregated streams); "
        "gender and age_group are null where the report has country totals only."
    ),
)
AGGREGATED_SKIPS = TableSpec(
    name="aggregated_skips",
    fields=(*_TRACK_KEY, pa.field("country", pa.string()), pa.field("skips", pa.int64())),
    required=("track_uri", "country", "skips"),
    sort_by=("country", "track_uri"),
    description="One row per track and country: skips (aggregated streams).",
)
AGGREGATED_SAVES = TableSpec(
    name="aggregated_saves",
    fields=(
        *_TRACK_KEY,
        pa.field("country", pa.string()),
        pa.field("product", pa.string()),
        pa.field("saves", pa.int64()),
    ),
    # The totals shape has saves per country (product null) and per plan over all countries
    # (country null): sum rows with a country for countries, rows with a product for plans.
    required=("track_uri", "saves"),
    sort_by=("country", "track_uri", "product"),
    description=(
        "One row per track, country and user plan: saves (aggregated streams). Where the report has "
        "country totals only, product is null, and the plan split over all countries has country null."
    ),
)

REPORTS: tuple[ReportSpec, ...] = (
    ReportSpec("streams", "streams", per_country=True, tables=(STREAMS,)),
    ReportSpec("sub30_streams", "sub_30_sec_streams", per_country=True, tables=(SUB30_STREAMS,)),
    ReportSpec("users", "users", per_country=False, tables=(USERS,)),
    ReportSpec("tracks", "tracks", per_country=False, tables=(TRACKS,)),
    ReportSpec(
        "aggregated_streams",
        "aggregatedstreams",
        per_country=False,
        tables=(AGGREGATED_SUMMARY, AGGREGATED_COUNT, AGGREGATED_SKIPS, AGGREGATED_SAVES),
        parser="aggregated",
    ),
)
REPORTS_BY_NAME: dict[str, ReportSpec] = {r.name: r for r in REPORTS}
TABLES_BY_NAME: dict[str, TableSpec] = {t.name: t for r in REPORTS for t in r.tables}
PERSONAL_TABLES = frozenset(t.name for t in TABLES_BY_NAME.values() if t.personal)


def report_by_name(name: str) -> ReportSpec:
    """Look a report up by our name or the API's (`sub_30_sec_streams`, `aggregatedstreams`)."""
    key = name.strip().lower()
    for report in REPORTS:
        if key in (report.name, report.api_name):
            return report
    known = ", ".join(r.name for r in REPORTS)
    raise ValueError(f"unknown report {name!r}: expected one of {known}")
