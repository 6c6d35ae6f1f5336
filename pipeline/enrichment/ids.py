"""Which ids the catalog wants, read from what has landed in the lake (DuckDB over Parquet).

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

from pipeline.config import reader_object_store, tables_for
from pipeline.enrichment.tables import CATALOG_ALBUMS, CATALOG_TRACKS, CatalogTable
from pipeline.layout import Layout
from pipeline.storage.object_store import duckdb_s3
from pipeline.storage.tables import local_path

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


def _lake_files(layout: Layout, table: str) -> list[str]:
    """The data files of the lake table's current snapshot (none when nothing has landed)."""
    lake = tables_for(layout.data_dir)
    if table not in lake.table_names():
        return []
    return [str(local_path(f) or f) for files in lake.files(table).values() for f in files]


def _catalog_files(layout: Layout, table: CatalogTable) -> list[str]:
    path = table.path(layout)
    return [str(path)] if path.is_file() else []


def _distinct(sql: str, files: list[str]) -> WantedIds:
    """Run `SELECT value, id FROM read_parquet(?)` over `files`: `id` is the value's id, or empty or
    NULL when the value is not one. `s3://` files are read through the lake's object store."""
    found = WantedIds()
    if not files:
        return found
    with duckdb.connect() as con:
        store = reader_object_store()
        if store is not None and any(f.startswith("s3://") for f in files):
            duckdb_s3(con, store)
        rows = con.execute(sql, [files]).fetchall()
    for value, id_ in rows:
        if id_:
            found.ids.add(id_)
        elif value is not None:
            found.malformed.add(value)
    return found


def _from_uris(column: str, kind: str, files: list[str], *, list_column: bool = False) -> WantedIds:
    """Ids out of `spotify:{kind}:<id>` uris in `column` (a list column is unnested first)."""
    value = f"unnest({column})" if list_column else column
    sql = (
        f"SELECT DISTINCT uri, regexp_extract(uri, '^spotify:{kind}:({_ID})$', 1) AS id "
        f"FROM (SELECT {value} AS uri FROM read_parquet(?, union_by_name = true)) "
        f"WHERE uri LIKE 'spotify:{kind}:%'"
    )
    return _distinct(sql, files)


def _ids_in(column: str, files: list[str], *, list_column: bool = False) -> WantedIds:
    value = f"unnest({column})" if list_column else column
    sql = (
        f"SELECT DISTINCT id, CASE WHEN regexp_full_match(id, '{_ID}') THEN id END "
        f"FROM (SELECT {value} AS id FROM read_parquet(?, union_by_name = true)) WHERE id IS NOT NULL"
    )
    return _distinct(sql, files)


def track_ids(layout: Layout) -> WantedIds:
    files = [f for t in (*_STREAM_TABLES, "tracks") for f in _lake_files(layout, t)]
    return _ids_in("track_id", files)


def album_ids(layout: Layout) -> WantedIds:
    found = _from_uris("album_uri", "album", _lake_files(layout, "tracks"))
    found |= _ids_in("album_id", _catalog_files(layout, CATALOG_TRACKS))
    return found


def artist_ids(layout: Layout) -> WantedIds:
    found = _from_uris("artist_uris", "artist", _lake_files(layout, "aggregated_summary"), list_column=True)
    catalog = _catalog_files(layout, CATALOG_TRACKS) + _catalog_files(layout, CATALOG_ALBUMS)
    for path in catalog:
        found |= _ids_in("artist_ids", [path], list_column=True)
    return found


def playlist_ids(layout: Layout) -> WantedIds:
    files = [f for t in _STREAM_TABLES for f in _lake_files(layout, t)]
    return _from_uris("source_uri", "playlist", files)


def wanted_ids(kind: str, layout: Layout) -> WantedIds:
    """The ids of `kind` (`tracks`, `albums`, `artists`, `playlists`, `audio_features`) in the lake."""
    readers = {
        "tracks": track_ids,
        "audio_features": track_ids,
        "albums": album_ids,
        "artists": artist_ids,
        "playlists": playlist_ids,
    }
    return readers[kind](layout)
