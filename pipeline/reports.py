"""The one registry of Bulk API reports and the lake tables they land in.

Everything per report or table lives here: the API path, which parser reads it, the lake tables,
their Arrow schemas, required fields, sort order, personal columns, value bounds and the blocking
stream-length rule. The emulator, the client, landing and the Dagster assets read it, so adding a
report is a change here plus its SQL staging model, and nothing can drift apart.
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
}
_USER_ALIASES: dict[str, tuple[str, ...]] = {
    "user_id": ("customer_id",),
    "country": ("country_code",),
    "product": ("user_product_type",),
}

REPORT_YEAR = "report_year"  # a bound's high end: the year of the report's day
SUB30_LIMIT_MS = 30_000  # a stream is 30 s or more; sub-30 streams are shorter


@dataclass(frozen=True)
class FieldBound:
    """An inclusive range a numeric field's values must lie in (plausibility; `None` is open)."""

    field: str
    low: int | None
    high: int | Literal["report_year"] | None = None


@dataclass(frozen=True)
class LengthRule:
    """A blocking check on `stream_length` (ms), run on the staged partition before it is published."""

    check: str  # the Dagster asset check's name
    description: str
    at_least_ms: int | None = None
    under_ms: int | None = None

    def holds(self, low: int | None, high: int | None) -> bool:
        """Whether a partition whose stream lengths span `low`..`high` passes (no rows: it does)."""
        if low is None or high is None:
            return True
        return (self.at_least_ms is None or low >= self.at_least_ms) and (
            self.under_ms is None or high < self.under_ms
        )


@dataclass(frozen=True)
class TableSpec:
    """A lake table: its declared record schema, required fields, sort order and rules.

    `personal` columns identify listeners (pseudonymized at landing when that is on); `location`
    columns sit below country level (dropped when asked); `bounds` reject implausible values.
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
    length_rule: LengthRule | None = None
    aliases: dict[str, tuple[str, ...]] = field(default_factory=dict, hash=False)
    track_ids: tuple[str, ...] = ()

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
    bounds=(FieldBound("stream_length", 0),),
    length_rule=LengthRule(
        "all_at_least_30s",
        "Every stream in the streams report lasts 30 000 ms or more.",
        at_least_ms=SUB30_LIMIT_MS,
    ),
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
    bounds=STREAMS.bounds,
    length_rule=LengthRule(
        "all_under_30s", "Every sub-30 stream is shorter than 30 000 ms.", under_ms=SUB30_LIMIT_MS
    ),
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
