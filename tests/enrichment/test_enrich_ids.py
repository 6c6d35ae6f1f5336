"""Ids the catalog wants: values in the lake that are not ids are counted and sampled, never dropped
unseen (a lake landed before ids were normalized holds URIs and gids)."""

from __future__ import annotations

from datetime import date

import pyarrow as pa

from pipeline.enrichment.ids import wanted_ids
from pipeline.layout import Layout
from tests.kits.fake_lake import lake_tables

GOOD = "4uLU6hMCjMI75M1A2tKUQC"


def _write(layout: Layout, table: str, columns: dict) -> None:
    lake_tables(layout).replace_partition(table, "acme", date(2026, 6, 12), pa.table(columns))


def test_malformed_lake_ids_are_counted_not_asked(tmp_path):
    layout = Layout(tmp_path / "data")
    gid = "0" * 32
    _write(layout, "streams", {"track_id": [GOOD, f"spotify:track:{GOOD}", gid, None, GOOD]})
    _write(layout, "tracks", {"track_id": [GOOD], "album_uri": ["spotify:album:short"]})
    tracks = wanted_ids("tracks", lake_tables(layout))
    assert tracks.ids == {GOOD}
    assert tracks.malformed == {f"spotify:track:{GOOD}", gid} and len(tracks.sample) == 2
    albums = wanted_ids("albums", lake_tables(layout))
    assert albums.ids == set() and albums.malformed == {"spotify:album:short"}
