"""The emulator's Web API of an extended-quota app over real HTTP: shapes, limits, faults, consistency.

(The development-mode app, the default, is tested in `test_emulator_modes_webapi.py`.)
"""

from __future__ import annotations

from datetime import timedelta

import httpx
import pytest

from pipeline.emulator import EmulatorConfig, start_emulator
from pipeline.emulator.catalog import build_catalog
from tests.kits.emulator_http import DAY, TODAY, UNKNOWN, Bulk, Web

ACME = build_catalog(42, "acme")
GLOBEX = build_catalog(42, "globex")


@pytest.fixture(scope="module")
def extended(tmp_path_factory: pytest.TempPathFactory):
    config = EmulatorConfig(today=TODAY, web_api_mode="extended", cache_dir=tmp_path_factory.mktemp("ext"))
    with start_emulator(config) as running:
        yield running


@pytest.fixture(scope="module")
def web(extended) -> Web:
    return Web(extended)


def test_batch_endpoints_answer_objects_in_order_and_null_for_unknown_ids(web):
    tracks = [t.id for t in ACME.tracks[:3]] + [UNKNOWN, GLOBEX.tracks[0].id]
    body = web.batch("tracks", tracks).json()["tracks"]
    assert [t and t["id"] for t in body] == [*tracks[:3], None, tracks[4]]
    track, source = body[0], ACME.tracks[0]
    assert track["name"] == source.name and track["external_ids"]["isrc"] == source.isrc
    assert (
        track["album"]["id"] == source.album.id
        and track["album"]["release_date"] == source.album.release_date
    )
    assert [a["id"] for a in track["artists"]] == [a.id for a in source.artists]
    assert 0 <= track["popularity"] <= 100 and track["duration_ms"] == source.duration_ms

    album = web.batch("albums", [source.album.id]).json()["albums"][0]
    assert album["label"] == source.album.label and album["external_ids"]["upc"] == source.album.upc
    assert album["total_tracks"] == len([t for t in ACME.tracks if t.album == source.album])

    artist = web.batch("artists", [source.artists[0].id, UNKNOWN]).json()["artists"]
    assert artist[1] is None and artist[0]["name"] == source.artists[0].name
    assert artist[0]["followers"]["total"] > 0 and isinstance(artist[0]["genres"], list)

    features = web.batch("audio-features", [source.id]).json()["audio_features"][0]
    assert features["id"] == source.id and 0 <= features["danceability"] <= 1 and 0 <= features["key"] < 12


def test_batch_limits_malformed_ids_and_missing_token(web, extended):
    ids = [t.id for t in ACME.tracks[:101]]
    for endpoint, limit in (("tracks", 50), ("albums", 20), ("artists", 50), ("audio-features", 100)):
        assert web.batch(endpoint, ids[:limit]).status_code == 200
        too_many = web.batch(endpoint, ids[: limit + 1])
        assert too_many.status_code == 400 and "Too many ids" in too_many.json()["error"]["message"]
    assert web.batch("tracks", ["not-an-id"]).status_code == 400
    assert web.get("/tracks").status_code == 400  # no ids
    assert httpx.get(extended.web_api_url + f"/tracks?ids={ids[0]}").status_code == 401
    assert web.get("/playlists/bad!").status_code == 400


def test_playlists_and_single_objects(web):
    playlist = web.get(f"/playlists/{ACME.playlists[0]}").json()
    assert playlist["id"] == ACME.playlists[0] and playlist["name"]
    assert {"id", "display_name"} <= set(playlist["owner"]) and playlist["followers"]["total"] >= 0
    assert isinstance(playlist["public"], bool) and isinstance(playlist["collaborative"], bool)
    assert playlist["snapshot_id"]
    assert web.get(f"/playlists/{UNKNOWN}").status_code == 404
    assert web.get(f"/tracks/{ACME.tracks[1].id}").json()["id"] == ACME.tracks[1].id
    assert web.get(f"/artists/{UNKNOWN}").status_code == 404


def test_search_by_isrc(web):
    track = ACME.tracks[7]
    found = web.get("/search", q=f"isrc:{track.isrc}", type="track").json()["tracks"]
    assert track.id in [t["id"] for t in found["items"]] and found["total"] >= 1
    assert web.get("/search", q="isrc:XX0000000000", type="track").json()["tracks"]["items"] == []
    assert web.get("/search", q="isrc:X").status_code == 400  # no type


def test_every_streamed_track_and_playlist_resolves(web, extended):
    bulk = Bulk(extended)
    streams = bulk.records("acme", "streams", DAY) + bulk.records("globex", "sub_30_sec_streams", DAY)
    track_ids = sorted({s["track_id"] for s in streams})
    for start in range(0, len(track_ids), 50):
        assert None not in web.batch("tracks", track_ids[start : start + 50]).json()["tracks"]
    albums = sorted({t["album_uri"].split(":")[-1] for t in bulk.records("acme", "tracks", DAY)})
    for start in range(0, len(albums), 20):
        assert None not in web.batch("albums", albums[start : start + 20]).json()["albums"]
    playlists = sorted({s["source_uri"].split(":")[-1] for s in streams if s["source_uri"]})
    assert playlists
    assert all(web.get(f"/playlists/{p}").status_code == 200 for p in playlists[:40])


def test_popularity_and_followers_drift_by_day_and_are_deterministic(tmp_path):
    artist = ACME.tracks[0].artists[0].id
    seen = []
    for today in (TODAY, TODAY, TODAY + timedelta(days=3)):
        config = EmulatorConfig(today=today, cache_dir=tmp_path / "c", web_api_mode="extended")
        with start_emulator(config) as emu:
            web = Web(emu)
            body = web.batch("artists", [artist]).json()["artists"][0]
            pl = web.get(f"/playlists/{ACME.playlists[3]}").json()
            seen.append((body["followers"]["total"], pl["followers"]["total"]))
    assert seen[0] == seen[1]  # same day: identical
    assert seen[2] != seen[0] and seen[2][0] > seen[0][0]  # followers grow over the days


def test_webapi_faults_rate_limit_forbidden_and_unknown_ids(make_emulator):
    emu = make_emulator(
        "rate_limit:scope=webapi,count=2,retry_after=2",
        "forbidden",
        "unknown_ids:fraction=0.5,endpoint=tracks",
        web_api_mode="extended",
    )
    web = Web(emu)  # token requests are outside the webapi scope
    ids = [t.id for t in ACME.tracks[:40]]
    first, second, third = (web.batch("tracks", ids) for _ in range(3))
    assert (first.status_code, second.status_code, third.status_code) == (429, 429, 200)
    assert first.headers["retry-after"] == "2"
    nulls = third.json()["tracks"].count(None)
    assert 5 < nulls < 35  # about half, deterministically
    assert web.batch("tracks", ids).json() == third.json()
    assert None not in web.batch("artists", [ACME.tracks[0].artists[0].id]).json()["artists"]
    assert web.batch("audio-features", ids).status_code == 403
    assert Bulk(emu).get("/acme/enhanced/streams").status_code == 200  # the Bulk API is unaffected
    calls = emu.web.calls
    assert [c.endpoint for c in calls[:3]] == ["tracks"] * 3 and all(len(c.ids) == 40 for c in calls[:3])
