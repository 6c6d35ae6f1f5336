"""A Web API value that cannot be true or does not fit its column nulls that field, with a warning
naming the kind, id and field; the batch and every other record land (over HTTP, the emulator)."""

from __future__ import annotations

import logging

import dagster as dg

from assets.catalog import catalog_assets
from pipeline.clients.web_records import (
    parse_album,
    parse_artist,
    parse_audio_features,
    parse_playlist,
    parse_track,
)
from pipeline.orchestration.resources import LakeResource, WebApiResource
from tests.kits.web_api import catalog_rows, lake_values

# field -> a value the Web API might send one day: past int32, the wrong type, past int64
ODD = {
    "popularity": 3_000_000_000,
    "duration_ms": "3 minutes",
    "track_number": 2**40,
    "explicit": "yes",
}


def test_odd_values_become_nulls_with_warnings_and_lose_no_record(emulator, layout, monkeypatch, caplog):
    ids = sorted(lake_values(layout, ("streams",), "track_id"))
    odd = dict(zip(ids[: len(ODD)], ODD.items(), strict=True))  # one odd field per track
    served = emulator.web.lookup

    def lookup(endpoint, entity_id):
        found = served(endpoint, entity_id)
        if endpoint == "tracks" and entity_id in odd and found is not None:
            name, value = odd[entity_id]
            found[name] = value
        return found

    monkeypatch.setattr(emulator.web, "lookup", lookup)
    web_api = WebApiResource(
        client_id=emulator.config.client_id,
        client_secret=emulator.config.client_secret,
        base_url=emulator.web_api_url,
        accounts_url=emulator.accounts_url,
        rate_limit=10_000,
    )
    with dg.instance_for_test() as instance, caplog.at_level(logging.WARNING):
        result = dg.materialize(
            catalog_assets,
            selection=["catalog_tracks", "catalog_tracks_daily"],
            resources={"web_api": web_api, "lake": LakeResource(data_dir=str(layout.data_dir))},
            instance=instance,
        )
    assert result.success
    [event] = [
        e
        for e in result.get_asset_materialization_events()
        if e.asset_key.to_user_string() == "catalog_tracks"
    ]
    metadata = {k: getattr(v, "value", v) for k, v in event.materialization.metadata.items()}
    assert metadata["nulled_values"] == len(ODD) and metadata["failed"] == 0
    table = catalog_rows(layout, "catalog_tracks").to_pylist()
    by_id = {row["track_id"]: row for row in table}
    assert metadata["found"] == len(by_id) and set(ids) <= set(by_id)  # every record landed
    for track_id, (name, _value) in odd.items():
        assert by_id[track_id][name] is None  # only the odd field is null ...
        assert by_id[track_id]["track_name"] is not None  # ... the rest of the record is kept
        assert any(
            f"Web API track {track_id}: {name} " in r.getMessage() and r.levelno == logging.WARNING
            for r in caplog.records
        ), name
    fine = by_id[ids[-1]]
    assert fine["popularity"] is not None and fine["duration_ms"] is not None and fine["explicit"] is not None
    sample = "; ".join(metadata["nulled_value_sample"])
    assert "popularity = 3000000000 is outside 0..100" in sample
    assert 'duration_ms is "3 minutes", not a whole number' in sample


def test_every_numeric_kind_is_range_checked_at_parse():
    artist = parse_artist({"name": "A", "popularity": 40, "followers": {"total": 10**20}}, "a1")
    assert artist.followers is None and artist.popularity == 40
    assert [str(p) for p in artist.problems] == [
        "Web API artist a1: followers.total = 100000000000000000000 is outside 0..9223372036854775807; "
        "stored as null"
    ]
    features = parse_audio_features(
        {"danceability": 1.7, "energy": float("nan"), "key": 12, "mode": 1, "tempo": -3, "valence": True},
        "t1",
    )
    assert (features.danceability, features.energy, features.key, features.tempo, features.valence) == (
        None,
        None,
        None,
        None,
        None,
    )
    assert features.mode == 1
    assert {p.field for p in features.problems} == {"danceability", "energy", "key", "tempo", "valence"}
    playlist = parse_playlist({"followers": {"total": -1}, "tracks": {"total": 12.0}, "public": 1}, "p1")
    assert (playlist.followers, playlist.tracks_total, playlist.public) == (None, 12, None)
    album = parse_album({"total_tracks": 2**31, "popularity": 101}, "al1")
    assert (album.total_tracks, album.popularity) == (None, None) and len(album.problems) == 2
    assert parse_track({"popularity": 0, "duration_ms": 1}, "t2").problems == ()
