"""Enrichment against a development-mode Web API app: batch endpoints refused (403), so tracks,
albums and artists are looked up one id per request; popularity, followers and label are null;
editorial playlists are not found; audio features are unavailable. And the client's `mode`."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import dagster as dg
import pyarrow.compute as pc
import pytest

from assets.catalog import catalog_assets
from pipeline.clients import Forbidden
from pipeline.clients.web_records import parse_playlist
from pipeline.emulator.catalog import build_catalog, is_editorial
from pipeline.enrichment import EnrichmentFailed, enrich, enrich_all
from pipeline.orchestration.resources import LakeResource, WebApiResource
from pipeline.warehouse.build import build_warehouse
from pipeline.warehouse.catalog import open_catalog
from pipeline.warehouse.query import named_tracks
from tests.kits.web_api import catalog_rows, lake_values, web_client

ACME = build_catalog(42, "acme")
UNKNOWN = "0" * 22
T0 = datetime(2026, 6, 15, 9, 0, tzinfo=UTC)
SINGLE_KINDS = ("tracks", "albums", "artists")


async def _lookups(emu, calls: list[tuple[str, list[str]]], **options):
    async with web_client(emu, **options) as client:
        results = [await getattr(client, method)(ids) for method, ids in calls]
    return results, client


def _sample() -> dict[str, list[str]]:
    return {
        "tracks": [t.id for t in ACME.tracks[:73]],
        "albums": list(dict.fromkeys(t.album.id for t in ACME.tracks))[:25],
        "artists": [a.id for a in ACME.artists[:55]],
    }


def _catalog(layout, name):
    return catalog_rows(layout, name)


def test_auto_mode_falls_back_to_single_ids_after_one_403_per_kind(dev_emulator):
    web = dev_emulator.web
    web.clear_calls()
    sample = _sample()
    calls = [(kind, [*ids, UNKNOWN]) for kind, ids in sample.items()]
    calls += [(kind, ids[:3]) for kind, ids in sample.items()]  # the same client: no batch tried again
    results, client = asyncio.run(_lookups(dev_emulator, calls, max_concurrency=3))
    assert client.kind_modes == dict.fromkeys(SINGLE_KINDS, "single")
    for (_kind, ids), result in zip(calls, results, strict=True):
        known = [i for i in ids if i != UNKNOWN]
        assert {r.id for r in result.found} == set(known) and result.error is None and not result.failed
        assert result.not_found == ((UNKNOWN,) if UNKNOWN in ids else ())  # a 404: not found
    for kind, ids in sample.items():
        assert web.count_calls(kind, batch=True) == web.count_calls(kind, batch=True, status=403) == 1
        assert web.count_calls(kind, batch=False) == len(ids) + 1 + 3
        assert client.requests[kind] == len(ids) + 1 + 3 + 1  # the single ids and the one refused batch
    assert all(c.batch is False for c in web.calls)  # refused batches are not recorded as answered
    tracks, albums, artists = results[:3]
    assert all(t.popularity is None and t.name for t in tracks.found)
    assert all(a.label is None and a.popularity is None and a.name for a in albums.found)
    assert all(a.followers is None and a.popularity is None and a.name for a in artists.found)


def test_single_mode_never_tries_a_batch(emulator):
    emulator.web.clear_calls()
    ids = _sample()["albums"][:7]
    (result,), client = asyncio.run(_lookups(emulator, [("albums", ids)], mode="single"))
    assert {r.id for r in result.found} == set(ids)
    assert emulator.web.count_calls("albums", batch=True) == 0
    assert emulator.web.count_calls("albums", batch=False) == client.requests_made == len(ids)
    assert result.found[0].label is not None  # an extended app still gets every field one by one


def test_auto_mode_keeps_batches_on_an_extended_app(emulator):
    emulator.web.clear_calls()
    (result,), client = asyncio.run(_lookups(emulator, [("tracks", _sample()["tracks"])]))
    assert client.kind_modes["tracks"] == "batch" and client.requests_made == 2  # 50 + 23
    assert emulator.web.count_calls(batch=False) == 0 and len(result.found) == 73


def test_batch_mode_never_falls_back(dev_emulator):
    dev_emulator.web.clear_calls()
    ids = _sample()["tracks"]
    (result,), client = asyncio.run(_lookups(dev_emulator, [("tracks", ids)], mode="batch"))
    assert isinstance(result.error, Forbidden) and set(result.failed) == set(ids) and not result.found
    assert dev_emulator.web.count_calls(batch=False) == 0
    assert client.kind_modes["tracks"] == "batch"


def test_an_unknown_mode_is_refused(dev_emulator):
    with pytest.raises(ValueError, match="mode must be one of"):
        web_client(dev_emulator, mode="batches")


def test_batch_mode_enrichment_fails_permanently_on_a_development_app(dev_emulator, layout):
    async def go():
        async with web_client(dev_emulator, mode="batch") as client:
            return await enrich("tracks", client, layout, now=T0)

    with pytest.raises(EnrichmentFailed) as failure:
        asyncio.run(go())
    assert failure.value.permanent and failure.value.result.found == 0


def _run_all(emu, layout, now):
    async def go():
        async with web_client(emu) as client:
            return await enrich_all(client, layout, now=now), client

    return asyncio.run(go())


def test_enrichment_names_every_streamed_track_then_a_rerun_asks_nothing(dev_emulator, layout):
    web = dev_emulator.web
    web.clear_calls()
    results, client = _run_all(dev_emulator, layout, T0)
    track_ids = lake_values(layout, ("streams", "sub30_streams", "tracks"), "track_id")
    tracks = _catalog(layout, "catalog_tracks")
    assert set(tracks.column("track_id").to_pylist()) == track_ids  # 100% of the streamed tracks
    assert pc.all(pc.is_valid(tracks.column("track_name"))).as_py()
    assert tracks.column("popularity").null_count == tracks.num_rows
    for kind in SINGLE_KINDS:
        result = results[kind]
        assert result.lookup == "single" and result.not_found == 0 and result.failed == 0
        assert result.found == result.requested > 0
        assert result.requests == result.requested + 1  # one refused batch, then one id per request
        assert web.count_calls(kind, batch=True, status=403) == 1
    albums, artists = _catalog(layout, "catalog_albums"), _catalog(layout, "catalog_artists")
    assert albums.column("label").null_count == albums.num_rows
    assert artists.column("followers").null_count == artists.num_rows

    playlists = results["playlists"]
    sources = lake_values(layout, ("streams", "sub30_streams"), "source_uri")
    playlist_ids = {s.split(":")[2] for s in sources if s and s.startswith("spotify:playlist:")}
    editorial = {p for p in playlist_ids if is_editorial(p)}
    assert editorial and playlists.not_found == len(editorial) and playlists.failed == 0
    assert set(_catalog(layout, "catalog_playlists").column("playlist_id").to_pylist()) == (
        playlist_ids - editorial
    )
    features = results["audio_features"]
    assert not features.available and features.requests == 1
    assert client.requests_made == sum(r.requests for r in results.values())

    since = len(dev_emulator.request_log)
    second, again = _run_all(dev_emulator, layout, T0 + timedelta(days=1))
    assert again.requests_made == 0 and all(r.requests == 0 for r in second.values())
    assert dev_emulator.request_log[since:] == []  # not even a token request
    assert not second["audio_features"].available  # the 403 is remembered for the TTL
    third, _ = _run_all(dev_emulator, layout, T0 + timedelta(days=8))  # past it: asked once again
    assert not third["audio_features"].available and third["audio_features"].requests == 1
    for kind in SINGLE_KINDS:  # the remembered batch refusal is a week old: probed once more
        assert third[kind].lookup == "single" and third[kind].requests == third[kind].requested + 1
        assert web.count_calls(kind, batch=True, status=403) == 2

    # Ids due again two days later (TTL 0): the app's mode is remembered, no batch request is spent.
    async def rerun():
        async with web_client(dev_emulator) as client:
            return await enrich_all(client, layout, now=T0 + timedelta(days=10), ttl=timedelta(0))

    fourth = asyncio.run(rerun())
    for kind in SINGLE_KINDS:
        assert fourth[kind].lookup == "single" and fourth[kind].requested > 0
        assert fourth[kind].requests == fourth[kind].requested  # one id per request, no refused batch
        assert web.count_calls(kind, batch=True, status=403) == 2

    built = build_warehouse(layout)  # null popularity, followers and label are fine downstream
    assert built.passed, built.failed_checks
    streamed, named = named_tracks(layout)
    assert streamed > 0 and named == streamed
    con = open_catalog(layout.warehouse_path)
    try:
        row = con.execute("SELECT count(*), count(popularity) FROM fct_track_performance").fetchone()
    finally:
        con.close()
    assert row is not None and row[0] > 0 and row[1] == 0


def _web_api(emu, **fields) -> WebApiResource:
    return WebApiResource(
        client_id=emu.config.client_id,
        client_secret=emu.config.client_secret,
        base_url=emu.web_api_url,
        accounts_url=emu.accounts_url,
        rate_limit=10_000,
        **fields,
    )


def test_the_resources_mode_reaches_the_client(dev_emulator):
    assert _web_api(dev_emulator).client().mode == "auto"
    assert _web_api(dev_emulator, mode="single").client().kind_modes == dict.fromkeys(SINGLE_KINDS, "single")


def test_catalog_assets_stay_green_on_a_development_app(dev_emulator, layout):
    resources = {"web_api": _web_api(dev_emulator), "lake": LakeResource(data_dir=str(layout.data_dir))}
    with dg.instance_for_test() as instance:
        result = dg.materialize(catalog_assets, resources=resources, instance=instance)
    assert result.success
    meta = {
        e.asset_key.to_user_string(): {
            k: getattr(v, "value", v) for k, v in e.materialization.metadata.items()
        }
        for e in result.get_asset_materialization_events()
    }
    for kind in SINGLE_KINDS:
        assert meta[f"catalog_{kind}"]["lookup"] == "single" and meta[f"catalog_{kind}"]["failed"] == 0
    assert meta["catalog_playlists"]["not_found"] > 0 and meta["catalog_playlists"]["failed"] == 0
    assert meta["catalog_audio_features"]["available"] is False


def test_a_playlist_track_count_comes_from_items_or_tracks():
    old = parse_playlist({"name": "a", "tracks": {"total": 7}}, "p")
    new = parse_playlist({"name": "a", "items": {"href": None, "total": 9}}, "p")
    neither = parse_playlist({"name": "a"}, "p")
    assert (old.tracks_total, new.tracks_total, neither.tracks_total) == (7, 9, None)
    assert new.extra is None and neither.followers is None
