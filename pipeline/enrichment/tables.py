"""The catalog tables: Iceberg tables in the lake's namespace, their schemas, keys and partitions.

```
lake.catalog_{tracks|albums|artists|playlists|audio_features}    latest row per id (unpartitioned)
lake.catalog_{tracks|artists|playlists}_daily         partitioned by identity(snapshot_date)
lake.catalog_state                   when each id was last asked; partitioned by identity(kind)
.enrichment/{kind}/refused.json   when an optional kind's endpoint last answered 403
.enrichment/{kind}/lookup.json    when a kind's batch endpoint last refused this app
```
Current tables hold the latest answer per id (replaced on refetch); daily tables keep popularity and
follower counts per day they were fetched, so history accumulates instead of being overwritten.
They live in the catalog of the lake's report tables, so a warehouse build pins their snapshots like
the others, and they are read and written the same way on local disk and on object storage. The two
JSON files are hints about the Web API app, not data: losing one costs one probing request.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa

from pipeline.layout import Layout, safe_name
from pipeline.reports import UTC_MICROS

STATE_TABLE = "catalog_state"
SNAPSHOT_COLUMN = "snapshot_date"
KIND_COLUMN = "kind"
HINTS_DIR = ".enrichment"

_STRINGS = pa.list_(pa.string())
_FETCHED = pa.field("fetched_at", UTC_MICROS)
_EXTRA = pa.field("_extra", pa.string())  # JSON of answer fields we do not map, or null

_SNAPSHOT_DATE = pa.field(SNAPSHOT_COLUMN, pa.date32())

STATE_SCHEMA = pa.schema(
    [pa.field("id", pa.string()), pa.field("found", pa.bool_()), pa.field("fetched_at", UTC_MICROS)]
)


@dataclass(frozen=True)
class CatalogTable:
    """A catalog table: its name in the lake, key column, the schema of its rows (without the
    partition column) and the column it is partitioned by (a value per write), if any."""

    name: str
    key: str
    schema: pa.Schema
    description: str
    partition: pa.Field | None = None

    @property
    def daily(self) -> bool:
        """Partitioned by `snapshot_date`: one partition per day the ids were fetched."""
        return self.partition is not None and self.partition.name == SNAPSHOT_COLUMN

    @property
    def stored_schema(self) -> pa.Schema:
        """The columns of the Iceberg table: the rows' and the partition column last."""
        return self.schema if self.partition is None else self.schema.append(self.partition)


def _table(name: str, key: str, description: str, *fields: pa.Field, daily: bool = False) -> CatalogTable:
    tail = [_FETCHED] if daily else [_EXTRA, _FETCHED]
    schema = pa.schema([pa.field(key, pa.string()), *fields, *tail])
    return CatalogTable(name, key, schema, description, _SNAPSHOT_DATE if daily else None)


CATALOG_TRACKS = _table(
    "catalog_tracks",
    "track_id",
    "One row per track id: the latest Web API track object (name, artists, album, popularity).",
    pa.field("track_name", pa.string()),
    pa.field("popularity", pa.int32()),
    pa.field("duration_ms", pa.int64()),
    pa.field("explicit", pa.bool_()),
    pa.field("isrc", pa.string()),
    pa.field("album_id", pa.string()),
    pa.field("album_name", pa.string()),
    pa.field("release_date", pa.string()),
    pa.field("release_date_precision", pa.string()),
    pa.field("artist_ids", _STRINGS),
    pa.field("artist_names", _STRINGS),
    pa.field("track_number", pa.int32()),
    pa.field("disc_number", pa.int32()),
)
CATALOG_ALBUMS = _table(
    "catalog_albums",
    "album_id",
    "One row per album id: the latest Web API album object (label, UPC, release date, type).",
    pa.field("album_name", pa.string()),
    pa.field("album_type", pa.string()),
    pa.field("label", pa.string()),
    pa.field("upc", pa.string()),
    pa.field("release_date", pa.string()),
    pa.field("release_date_precision", pa.string()),
    pa.field("total_tracks", pa.int32()),
    pa.field("popularity", pa.int32()),
    pa.field("genres", _STRINGS),
    pa.field("artist_ids", _STRINGS),
    pa.field("artist_names", _STRINGS),
)
CATALOG_ARTISTS = _table(
    "catalog_artists",
    "artist_id",
    "One row per artist id: the latest Web API artist object (name, genres, popularity, followers).",
    pa.field("artist_name", pa.string()),
    pa.field("popularity", pa.int32()),
    pa.field("followers", pa.int64()),
    pa.field("genres", _STRINGS),
)
CATALOG_PLAYLISTS = _table(
    "catalog_playlists",
    "playlist_id",
    "One row per playlist id named in streams' source_uri: name, owner, followers, flags.",
    pa.field("playlist_name", pa.string()),
    pa.field("description", pa.string()),
    pa.field("owner_id", pa.string()),
    pa.field("owner_name", pa.string()),
    pa.field("followers", pa.int64()),
    pa.field("public", pa.bool_()),
    pa.field("collaborative", pa.bool_()),
    pa.field("snapshot_id", pa.string()),
    pa.field("tracks_total", pa.int32()),
)
CATALOG_AUDIO_FEATURES = _table(
    "catalog_audio_features",
    "track_id",
    "One row per track id: Web API audio features (optional: the endpoint may be closed to the app).",
    *(
        pa.field(name, pa.float64())
        for name in ("danceability", "energy", "loudness", "speechiness", "acousticness")
    ),
    *(pa.field(name, pa.float64()) for name in ("instrumentalness", "liveness", "valence", "tempo")),
    pa.field("key", pa.int32()),
    pa.field("mode", pa.int32()),
    pa.field("time_signature", pa.int32()),
    pa.field("duration_ms", pa.int64()),
)
TRACKS_DAILY = _table(
    "catalog_tracks_daily",
    "track_id",
    "Track popularity per day it was fetched (history, never overwritten).",
    pa.field("popularity", pa.int32()),
    daily=True,
)
ARTISTS_DAILY = _table(
    "catalog_artists_daily",
    "artist_id",
    "Artist popularity and followers per day they were fetched (history, never overwritten).",
    pa.field("popularity", pa.int32()),
    pa.field("followers", pa.int64()),
    daily=True,
)
PLAYLISTS_DAILY = _table(
    "catalog_playlists_daily",
    "playlist_id",
    "Playlist followers per day they were fetched (history, never overwritten).",
    pa.field("followers", pa.int64()),
    daily=True,
)

CATALOG_TABLES: dict[str, CatalogTable] = {
    t.name: t
    for t in (
        CATALOG_TRACKS,
        CATALOG_ALBUMS,
        CATALOG_ARTISTS,
        CATALOG_PLAYLISTS,
        CATALOG_AUDIO_FEATURES,
        TRACKS_DAILY,
        ARTISTS_DAILY,
        PLAYLISTS_DAILY,
    )
}


# When each id of a kind was last asked, found or not (what makes a pass incremental).
STATE = CatalogTable(
    STATE_TABLE,
    "id",
    STATE_SCHEMA,
    "When each id of each kind was last asked of the Web API, and whether it was found.",
    pa.field(KIND_COLUMN, pa.string()),
)


def _hints(layout: Layout, kind: str) -> Path:
    return layout.data_dir / HINTS_DIR / safe_name(kind, what="catalog kind")


def lookup_path(layout: Layout, kind: str) -> Path:
    """When the batch endpoint of a kind last refused this app (403, development mode):
    `{"refused_at": ISO 8601}`; later runs ask one id per request until it is a week old."""
    return _hints(layout, kind) / "lookup.json"


def refused_path(layout: Layout, kind: str) -> Path:
    """When the Web API last refused an optional kind (403): `{"refused_at": ISO 8601}`."""
    return _hints(layout, kind) / "refused.json"
