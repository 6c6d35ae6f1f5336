"""Which ids the catalog wants, read from the lake tables' current data files (DuckDB over Parquet).

- tracks and audio features: `track_id` of streams, sub-30 streams and the tracks report;
- albums: the tracks report's `album_uri`, and the album of every track the Web API returned;
- artists: the aggregated report's `artist_uris`, and the artists of catalog tracks and albums;
- playlists: `source_uri`s of the form `spotify:playlist:<id>` in streams and sub-30 streams.
Only well-formed base62 ids are asked, sorted, each once; values that are not (a lake landed before
ids were normalized, a malformed uri) are counted and sampled for the asset's metadata, never
dropped unseen.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import duckdb

from pipeline.enrichment.tables import CATALOG_ALBUMS, CATALOG_TRACKS
from pipeline.storage.object_store import duckdb_s3
from pipeline.storage.partition_columns import local_path
from pipeline.storage.tables import TableLake

_ID = "[0-9A-Za-z]{22}"
_STREAM_TABLES = ("streams", "sub30_streams")
SAMPLE = 5


@dataclass
class WantedIds:
    """Ids to ask the Web API for, and the distinct values found where an id belongs but none is."""

    ids: set[str] = field(default_factory=set)
    malformed: set[str] = field(default_factory=set)

    def __ior__(self, other: WantedIds) -> WantedIds:
        self.ids |= other.ids
        self.malformed |= other.malformed
        return self

    @property
    def sample(self) -> list[str]:
        """A few malformed values, shortened: enough to see what form they are in."""
        return [value[:60] for value in sorted(self.malformed)[:SAMPLE]]


@dataclass(frozen=True)
class Files:
    """The data files of some lake tables' current snapshots, and the lake they are in."""

    lake: TableLake
    paths: list[str]


def _lake_files(lake: TableLake, *tables: str) -> Files:
    """The data files of the tables' current snapshots (none for a table never written)."""
    names = set(lake.table_names())
    found = [f for t in tables if t in names for files in lake.files(t).values() for f in files]
    return Files(lake, [str(local_path(f) or f) for f in found])


def _distinct(sql: str, files: Files) -> WantedIds:
    """Run `SELECT value, id FROM read_parquet(?)` over `files`: `id` is the value's id, or empty or
    NULL when the value is not one."""
    found = WantedIds()
    if not files.paths:
        return found
    with duckdb.connect() as con:
        if files.lake.on_object_store:
            duckdb_s3(con, files.lake.store)
        rows = con.execute(sql, [files.paths]).fetchall()
    for value, id_ in rows:
        if id_:
            found.ids.add(id_)
        elif value is not None:
            found.malformed.add(value)
    return found


def _from_uris(column: str, kind: str, files: Files, *, list_column: bool = False) -> WantedIds:
    """Ids out of `spotify:{kind}:<id>` uris in `column` (a list column is unnested first)."""
    value = f"unnest({column})" if list_column else column
    sql = (
        f"SELECT DISTINCT uri, regexp_extract(uri, '^spotify:{kind}:({_ID})$', 1) AS id "
        f"FROM (SELECT {value} AS uri FROM read_parquet(?, union_by_name = true)) "
        f"WHERE uri LIKE 'spotify:{kind}:%'"
    )
    return _distinct(sql, files)


def _ids_in(column: str, files: Files, *, list_column: bool = False) -> WantedIds:
    value = f"unnest({column})" if list_column else column
    sql = (
        f"SELECT DISTINCT id, CASE WHEN regexp_full_match(id, '{_ID}') THEN id END "
        f"FROM (SELECT {value} AS id FROM read_parquet(?, union_by_name = true)) WHERE id IS NOT NULL"
    )
    return _distinct(sql, files)


def track_ids(lake: TableLake) -> WantedIds:
    return _ids_in("track_id", _lake_files(lake, *_STREAM_TABLES, "tracks"))


def album_ids(lake: TableLake) -> WantedIds:
    found = _from_uris("album_uri", "album", _lake_files(lake, "tracks"))
    found |= _ids_in("album_id", _lake_files(lake, CATALOG_TRACKS.name))
    return found


def artist_ids(lake: TableLake) -> WantedIds:
    found = _from_uris("artist_uris", "artist", _lake_files(lake, "aggregated_summary"), list_column=True)
    catalog = _lake_files(lake, CATALOG_TRACKS.name, CATALOG_ALBUMS.name)
    found |= _ids_in("artist_ids", catalog, list_column=True)
    return found


def playlist_ids(lake: TableLake) -> WantedIds:
    return _from_uris("source_uri", "playlist", _lake_files(lake, *_STREAM_TABLES))


def wanted_ids(kind: str, lake: TableLake) -> WantedIds:
    """The ids of `kind` (`tracks`, `albums`, `artists`, `playlists`, `audio_features`) in the lake."""
    readers = {
        "tracks": track_ids,
        "audio_features": track_ids,
        "albums": album_ids,
        "artists": artist_ids,
        "playlists": playlist_ids,
    }
    return readers[kind](lake)
