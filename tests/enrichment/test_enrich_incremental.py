"""Enrichment passes over real HTTP: ids from the lake, incremental by TTL, unknown ids remembered,
daily history, partial failures kept, audio features optional."""

from __future__ import annotations

import asyncio
import math
from datetime import UTC, date, datetime, timedelta

import pyarrow.compute as pc
import pytest

from pipeline.enrichment import EnrichmentFailed, enrich, enrich_all
from pipeline.enrichment.store import read_state
from tests.kits.fake_lake import lake_tables
from tests.kits.web_api import catalog_rows, lake_values, web_client

T0 = datetime(2026, 6, 15, 9, 0, tzinfo=UTC)
WEB = ("/v1/tracks", "/v1/albums", "/v1/artists", "/v1/audio-features", "/v1/playlists", "/v1/search")


def _run(emu, layout, kind: str | None, now: datetime, **options):
    """One pass of `kind` (None: every kind); returns (result, client)."""

    async def go():
        async with web_client(emu) as client:
            if kind is None:
                return await enrich_all(client, layout, now=now, **options), client
            return await enrich(kind, client, layout, now=now, **options), client

    return asyncio.run(go())


def _catalog(layout, name):
    return catalog_rows(layout, name)


def _web_requests(emu, since: int) -> list[tuple[str, str, int]]:
    return [r for r in emu.request_log[since:] if r[1].startswith(WEB)]


def test_first_pass_resolves_every_id_the_lake_mentions(emulator, layout):
    results, client = _run(emulator, layout, None, T0)
    track_ids = lake_values(layout, ("streams", "sub30_streams", "tracks"), "track_id")
    tracks = _catalog(layout, "catalog_tracks")
    assert set(tracks.column("track_id").to_pylist()) == track_ids
    assert results["tracks"].requests == math.ceil(len(track_ids) / 50)
    assert pc.all(pc.is_valid(tracks.column("track_name"))).as_py()
    assert pc.min(pc.list_value_length(tracks.column("artist_names"))).as_py() >= 1

    sources = lake_values(layout, ("streams", "sub30_streams"), "source_uri")
    playlist_ids = {s.split(":")[2] for s in sources if s and s.startswith("spotify:playlist:")}
    playlists = _catalog(layout, "catalog_playlists")
    assert set(playlists.column("playlist_id").to_pylist()) == playlist_ids
    assert results["playlists"].requests == len(playlist_ids)  # one request per playlist

    albums = {u.split(":")[2] for u in lake_values(layout, ("tracks",), "album_uri")}
    assert set(_catalog(layout, "catalog_albums").column("album_id").to_pylist()) == albums
    artists = {a for ids in tracks.column("artist_ids").to_pylist() for a in ids}
    assert artists <= set(_catalog(layout, "catalog_artists").column("artist_id").to_pylist())
    assert results["artists"].requests == math.ceil(results["artists"].requested / 50)
    assert results["albums"].requests == math.ceil(len(albums) / 20)
    assert results["audio_features"].requests == math.ceil(len(track_ids) / 100)
    assert all(r.not_found == 0 and r.failed == 0 for r in results.values())
    assert client.requests_made == sum(r.requests for r in results.values())


def test_second_pass_with_nothing_new_makes_zero_requests(emulator, layout):
    first, _ = _run(emulator, layout, None, T0)
    before = _catalog(layout, "catalog_tracks")
    since = len(emulator.request_log)
    second, client = _run(emulator, layout, None, T0 + timedelta(days=1))
    assert client.requests_made == 0 and all(r.requests == 0 and r.requested == 0 for r in second.values())
    assert emulator.request_log[since:] == []  # not even a token request
    assert _catalog(layout, "catalog_tracks").equals(before)
    assert {k: r.rows for k, r in second.items()} == {k: r.rows for k, r in first.items()}


def test_a_stale_ttl_refetches_only_the_stale_ids(emulator, layout):
    early, _ = _run(emulator, layout, "tracks", T0, max_ids=60)  # 60 ids fetched at T0
    late, _ = _run(emulator, layout, "tracks", T0 + timedelta(days=3))  # the rest at T0 + 3 days
    assert early.requested == 60 and late.requested == late.wanted - 60
    fetched = _catalog(layout, "catalog_tracks")
    first_ids = set(fetched.filter(pc.equal(fetched.column("fetched_at"), T0)).column("track_id").to_pylist())
    assert len(first_ids) == 60

    calls = len(emulator.web.calls)
    again, _ = _run(emulator, layout, "tracks", T0 + timedelta(days=7, hours=1))  # only T0's are stale
    asked = {i for c in emulator.web.calls[calls:] for i in c.ids}
    assert asked == first_ids and again.requested == 60 and again.requests == 2  # 50 + 10
    refreshed = _catalog(layout, "catalog_tracks")
    assert refreshed.num_rows == fetched.num_rows  # replaced, not duplicated
    # a shorter TTL makes everything due
    everything, _ = _run(emulator, layout, "tracks", T0 + timedelta(days=7, hours=2), ttl=timedelta(hours=1))
    assert everything.requested == everything.wanted


def test_unknown_ids_are_recorded_and_not_retried_every_run(make_emulator, layout):
    emu = make_emulator("unknown_ids:fraction=0.2,endpoint=tracks")
    first, _ = _run(emu, layout, "tracks", T0)
    assert first.not_found > 0 and first.found + first.not_found == first.wanted
    state = read_state(lake_tables(layout), "tracks")
    unknown = set(state.filter(pc.invert(state.column("found"))).column("id").to_pylist())
    assert len(unknown) == first.not_found
    catalog_ids = set(_catalog(layout, "catalog_tracks").column("track_id").to_pylist())
    assert not unknown & catalog_ids and len(catalog_ids) == first.found

    since = len(emu.request_log)
    second, _ = _run(emu, layout, "tracks", T0 + timedelta(days=2))  # unknown ids are not asked again
    assert second.requests == 0 and _web_requests(emu, since) == []

    calls = len(emu.web.calls)
    emu.set_faults(emu.faults.__class__())  # the ids become known; past the TTL they are asked again
    third, _ = _run(emu, layout, "tracks", T0 + timedelta(days=8))
    assert unknown <= {i for c in emu.web.calls[calls:] for i in c.ids}
    assert third.not_found == 0
    assert unknown <= set(_catalog(layout, "catalog_tracks").column("track_id").to_pylist())


def test_popularity_and_followers_are_kept_as_daily_history(make_emulator, layout):
    emu = make_emulator()
    for day in (T0, T0 + timedelta(days=8)):
        emu.web.today = day.date  # the Web API's counts drift from day to day
        _run(emu, layout, None, day)
    for name, key, columns in (
        ("catalog_tracks_daily", "track_id", {"popularity"}),
        ("catalog_artists_daily", "artist_id", {"popularity", "followers"}),
        ("catalog_playlists_daily", "playlist_id", {"followers"}),
    ):
        table = lake_tables(layout).load(name)
        assert [f.name for f in table.spec().fields] == ["snapshot_date"], name  # a partition per day
        partitions = {task.file.partition[0] for task in table.scan().plan_files()}
        days = sorted(date.fromordinal(date(1970, 1, 1).toordinal() + d) for d in partitions)
        assert days == [date(2026, 6, 15), date(2026, 6, 23)], name
        history = _catalog(layout, name)
        assert columns <= set(history.column_names)
        per_day = [history.filter(pc.equal(history.column("snapshot_date"), d)).num_rows for d in days]
        current = _catalog(layout, name.removesuffix("_daily"))
        assert per_day == [current.num_rows] * 2  # one row per id and day; current keeps one per id
        assert len(set(current.column(key).to_pylist())) == current.num_rows
    artists = _catalog(layout, "catalog_artists_daily")
    followers = {}
    for row in artists.to_pylist():
        followers.setdefault(row["artist_id"], []).append((str(row["snapshot_date"]), row["followers"]))
    series = [sorted(v) for v in followers.values()]
    assert all(len(s) == 2 for s in series)
    assert sum(s[1][1] > s[0][1] for s in series) > 0.9 * len(series)  # the older counts were kept
    current = _catalog(layout, "catalog_artists").to_pylist()
    latest = {row["artist_id"]: row["followers"] for row in current}
    assert all(latest[a] == sorted(v)[-1][1] for a, v in followers.items())  # current = the newest day


def test_a_failed_batch_keeps_what_succeeded_and_the_next_run_asks_only_the_rest(make_emulator, layout):
    emu = make_emulator("server_error:scope=webapi,endpoint=tracks,count=0,skip=3")  # all after the 3rd fail
    with pytest.raises(EnrichmentFailed) as failure:
        _run(emu, layout, "tracks", T0)
    assert not failure.value.permanent  # transient: a retry may help
    partial = failure.value.result
    assert partial.found == 150 and partial.failed == partial.wanted - 150
    kept = set(_catalog(layout, "catalog_tracks").column("track_id").to_pylist())
    assert len(kept) == 150

    emu.set_faults(emu.faults.__class__())
    calls = len(emu.web.calls)
    rest, _ = _run(emu, layout, "tracks", T0)
    asked = {i for c in emu.web.calls[calls:] for i in c.ids}
    assert len(asked) == rest.requested == partial.wanted - 150 and not asked & kept
    assert rest.rows == partial.wanted and rest.failed == 0


def test_audio_features_403_marks_them_unavailable_without_failing(make_emulator, layout):
    emu = make_emulator("forbidden:endpoint=audio-features")
    results, _ = _run(emu, layout, None, T0)
    features = results["audio_features"]
    assert not features.available and features.requests == 1 and features.rows == 0
    assert lake_tables(layout).load("catalog_audio_features") is None  # never written
    assert all(r.available and r.found > 0 for k, r in results.items() if k != "audio_features")
