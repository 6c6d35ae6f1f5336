"""The Web API of a development-mode app over real HTTP, and the quota ban."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from pipeline.emulator import EmulatorConfig, RunningEmulator, start_emulator
from pipeline.emulator.catalog import build_catalog, is_editorial
from tests.kits.emulator_http import DAY, TODAY, UNKNOWN, Bulk, Web

ACME = build_catalog(42, "acme")


@pytest.fixture(scope="module")
def emu(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningEmulator]:
    """An emulator whose Web API app is in development mode (what most licensors have)."""
    config = EmulatorConfig(today=TODAY, web_api_mode="development", cache_dir=tmp_path_factory.mktemp("dev"))
    with start_emulator(config) as running:
        yield running


@pytest.fixture(scope="module")
def dev(emu) -> Web:
    assert emu.config.web_api_mode == "development"
    return Web(emu)


def test_batch_endpoints_and_audio_features_are_403_single_objects_work(dev, emu):
    emu.web.clear_calls()
    track = ACME.tracks[0]
    for endpoint, entity in (
        ("tracks", track.id),
        ("albums", track.album.id),
        ("artists", track.artists[0].id),
    ):
        refused = dev.batch(endpoint, [entity])
        assert refused.status_code == 403 and refused.json()["error"]["status"] == 403
        assert dev.get(f"/{endpoint}/{entity}").status_code == 200
    single = dev.get(f"/tracks/{track.id}").json()
    assert single["id"] == track.id and single["external_ids"] == {"isrc": track.isrc}
    assert not {"popularity", "available_markets", "linked_from"} & set(single)
    album = dev.get(f"/albums/{track.album.id}").json()
    assert album["external_ids"] == {"upc": track.album.upc}
    assert not {"popularity", "label", "available_markets"} & set(album)
    artist = dev.get(f"/artists/{track.artists[0].id}").json()
    assert artist["name"] == track.artists[0].name and not {"popularity", "followers"} & set(artist)
    assert dev.batch("audio-features", [track.id]).status_code == 403
    assert dev.get(f"/audio-features/{track.id}").status_code == 403
    assert dev.get(f"/tracks/{UNKNOWN}").status_code == 404
    assert dev.get("/tracks/not-an-id").status_code == 400
    web = emu.web
    assert (
        web.count_calls("tracks", batch=True) == 1 and web.count_calls("tracks", batch=True, status=403) == 1
    )
    assert web.count_calls("tracks", batch=False) == 4
    assert web.count_calls("tracks", batch=False, status=200) == 2
    assert web.count_calls(batch=True) == 4  # tracks, albums, artists, audio-features
    assert [c.batch for c in web.calls if c.endpoint == "tracks"] == [
        False,
        False,
        False,
    ]  # 400s are not calls


def test_search_limit_is_at_most_10(dev):
    track = ACME.tracks[7]
    found = dev.get("/search", q=f"isrc:{track.isrc}", type="track", limit=10)
    assert found.status_code == 200 and found.json()["tracks"]["limit"] == 10
    assert "popularity" not in found.json()["tracks"]["items"][0]
    assert dev.get("/search", q="Midnight", type="track").json()["tracks"]["limit"] == 10
    too_many = dev.get("/search", q=f"isrc:{track.isrc}", type="track", limit=11)
    assert too_many.status_code == 400 and "limit" in too_many.json()["error"]["message"]
    assert dev.get("/search", q="x", type="track", limit="ten").status_code == 400


def test_playlists_editorial_404_items_only_for_the_apps_own(dev, emu, bulk):
    streams = bulk.records("acme", "streams", DAY)
    named = {r["source_uri"].split(":")[-1] for r in streams if r["source_uri"]}
    editorial = sorted(p for p in named if p.startswith("37i9dQZF"))
    assert editorial and all(is_editorial(p) for p in editorial)  # streams name editorial playlists
    assert all(dev.get(f"/playlists/{p}").status_code == 404 for p in editorial[:5])
    owned, others = [], []
    for playlist_id in ACME.playlists[:80]:
        if is_editorial(playlist_id):
            continue
        body = dev.get(f"/playlists/{playlist_id}").json()
        assert "tracks" not in body and body["name"]
        (owned if body["owner"]["id"] == emu.config.app_user else others).append(body)
    assert owned and others
    assert all(p["items"]["total"] > 0 for p in owned)
    assert all("items" not in p for p in others)


def test_quota_ban_answers_every_web_api_request(make_emulator):
    emu = make_emulator("quota_ban")
    web = Web(emu)  # the token endpoint is outside the webapi scope
    track = ACME.tracks[0]
    for response in (
        web.get(f"/tracks/{track.id}"),
        web.batch("tracks", [track.id]),
        web.get(f"/tracks/{UNKNOWN}"),
    ):
        assert response.status_code == 429 and response.headers["retry-after"] == "72000"
        assert response.json() == {
            "error": {"status": 429, "message": "API rate limit exceeded", "reason": "QUOTA_EXCEEDED"}
        }
    assert Bulk(emu).get("/acme/enhanced/streams").status_code == 200  # the Bulk API is not banned
    counted = make_emulator("quota_ban:count=1,retry_after=5")
    web = Web(counted)
    assert [web.get(f"/tracks/{track.id}").status_code for _ in range(2)] == [429, 200]
