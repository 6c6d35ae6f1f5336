"""The warehouse over an enriched lake: dims and marts carry catalog names, popularity, genres, playlists."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest

from pipeline.enrichment import enrich_all
from pipeline.layout import Layout
from pipeline.storage.tables import partition_filter
from pipeline.warehouse.build import build_warehouse
from pipeline.warehouse.catalog import open_catalog
from pipeline.warehouse.query import named_tracks
from tests.conftest import LOADED_DAY
from tests.kits.fake_lake import copy_lake, lake_tables
from tests.kits.web_api import web_client

T0 = datetime(2026, 6, 15, 9, 0, tzinfo=UTC)


def _enrich(emu, layout, now=T0, **options):
    async def go():
        async with web_client(emu) as client:
            return await enrich_all(client, layout, now=now, **options)

    return asyncio.run(go())


def _query(layout, sql: str):
    con = open_catalog(layout.warehouse_path)
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()


@pytest.fixture(scope="module")
def enriched(emulator, landed, tmp_path_factory):
    """An enriched lake and its warehouse, built once for the read-only tests of this module."""
    layout = Layout(tmp_path_factory.mktemp("enriched") / "data")
    copy_lake(landed, layout.data_dir)
    _enrich(emulator, layout)
    built = build_warehouse(layout)
    assert built.passed, built.failed_checks
    return layout


def test_dims_combine_the_tracks_report_with_the_catalog(enriched):
    tracks = _query(
        enriched,
        "SELECT count(*), count(*) FILTER (WHERE in_catalog AND popularity IS NOT NULL "
        "AND len(artist_ids) > 0 AND album_id IS NOT NULL) FROM dim_tracks",
    )[0]
    assert tracks[0] > 0 and tracks[1] == tracks[0]
    assert _query(enriched, "SELECT count(*) FROM dim_tracks WHERE len(genres) > 0")[0][0] > tracks[0] // 2
    albums = _query(enriched, "SELECT count(*), count(album_type), count(total_tracks) FROM dim_albums")[0]
    assert albums[0] > 0 and albums[1] == albums[2] == albums[0]
    artists = _query(enriched, "SELECT count(*), count(followers), count(artist_name) FROM dim_artists")[0]
    assert artists[0] > 0 and artists[1] == artists[2] == artists[0]
    playlists = _query(
        enriched,
        "SELECT count(*), count(playlist_name), count(owner_name), count(followers) FROM dim_playlists",
    )[0]
    assert playlists[0] > 0 and playlists[1] == playlists[2] == playlists[3] == playlists[0]


def test_marts_carry_names_popularity_genres_and_playlist_details(enriched):
    streamed, named = named_tracks(enriched)
    assert streamed > 0 and named == streamed
    perf = _query(
        enriched, "SELECT count(*), count(popularity), count(*) FILTER (WHERE genres IS NOT NULL) "
        "FROM fct_track_performance",
    )[0]  # fmt: skip
    assert perf[0] > 0 and perf[1] == perf[2] == perf[0]
    plays = _query(
        enriched,
        "SELECT count(*), count(playlist_name), count(owner_id), count(playlist_followers), "
        "count(track_name) FROM fct_playlist_streams",
    )[0]
    assert plays[0] > 0 and set(plays[1:]) == {plays[0]}
    # the published catalog exposes the catalog tables and their history too
    assert (
        _query(enriched, "SELECT count(*) FROM stg_catalog_artists_daily")[0][0]
        == (_query(enriched, "SELECT count(*) FROM lake.catalog_artists")[0][0])
    )


def test_names_fall_back_to_the_catalog_when_the_tracks_report_is_missing(emulator, layout):
    lake_tables(layout).delete_where(partition_filter("acme", LOADED_DAY), tables=("tracks",))
    _enrich(emulator, layout)
    assert build_warehouse(layout).passed
    streamed, named = named_tracks(layout)
    assert streamed > 0 and named == streamed
    acme = _query(layout, "SELECT count(*) FROM fct_track_performance WHERE licensor = 'acme'")[0][0]
    assert acme > 0


def test_the_published_warehouse_keeps_its_catalog_snapshot_while_enrichment_rewrites(emulator, layout):
    _enrich(emulator, layout)
    assert build_warehouse(layout).passed
    enriched = layout
    before = _query(enriched, "SELECT max(fetched_at) FROM lake.catalog_tracks")[0][0]
    later = T0 + timedelta(days=1)
    _enrich(emulator, enriched, now=later, ttl=timedelta(0))  # every id refetched: files replaced
    assert _query(enriched, "SELECT max(fetched_at) FROM lake.catalog_tracks")[0][0] == before
    assert build_warehouse(enriched).passed
    assert _query(enriched, "SELECT max(fetched_at) FROM lake.catalog_tracks")[0][0] == later
    history = _query(enriched, "SELECT count(DISTINCT snapshot_date) FROM stg_catalog_tracks_daily")[0][0]
    assert history == 2
