"""The emulator over real HTTP: tokens, listings, files and errors, as the wire contract describes."""

from __future__ import annotations

import gzip
import json
from datetime import timedelta

import httpx

from pipeline.reports import REPORTS_BY_NAME, STREAMS, TRACKS, USERS
from tests.kits.emulator_http import DAY, TODAY, Bulk, decode


def test_token_with_good_credentials(emu):
    cfg = emu.config
    response = httpx.post(
        emu.accounts_url, auth=(cfg.client_id, cfg.client_secret), data={"grant_type": "client_credentials"}
    )
    assert response.status_code == 200
    body = response.json()
    assert body["token_type"] == "Bearer"
    assert body["expires_in"] == 3600
    assert isinstance(body["access_token"], str) and len(body["access_token"]) >= 20
    # credentials in the form body are accepted too, and every token is new
    again = httpx.post(
        emu.accounts_url,
        data={
            "grant_type": "client_credentials",
            "client_id": cfg.client_id,
            "client_secret": cfg.client_secret,
        },
    )
    assert again.status_code == 200 and again.json()["access_token"] != body["access_token"]


def test_token_with_bad_credentials_or_grant(emu):
    bad = httpx.post(
        emu.accounts_url, auth=(emu.config.client_id, "wrong"), data={"grant_type": "client_credentials"}
    )
    assert bad.status_code in (400, 401)
    assert bad.json()["error"] == "invalid_client"
    missing = httpx.post(emu.accounts_url, data={"grant_type": "client_credentials"})
    assert missing.json()["error"] == "invalid_client"
    grant = httpx.post(emu.accounts_url, auth=(emu.config.client_id, emu.config.client_secret), data={})
    assert grant.status_code == 400 and grant.json()["error"] == "unsupported_grant_type"
    assert httpx.get(emu.accounts_url).status_code == 405


def test_requests_without_a_valid_token_get_401(emu):
    uri = emu.bulk_api_url + "/acme/enhanced/streams"
    assert httpx.get(uri).status_code == 401
    assert httpx.get(uri, headers={"Authorization": "Bearer not-a-token"}).status_code == 401
    assert httpx.get(uri, headers={"Authorization": "Basic abc"}).status_code == 401


def test_unknown_licensor_and_unknown_paths_are_404(bulk):
    unknown = bulk.get("/initech/enhanced/streams")  # the licensor's report root: a configuration error
    assert unknown.status_code == 404 and "initech" in unknown.json()["error"]["message"]
    assert bulk.get("/initech/enhanced/streams/2026/11/20/US").status_code == 404
    assert bulk.get("/acme/enhanced/streams").status_code == 200  # a known licensor's root lists years
    assert bulk.get("/acme/enhanced/nosuchreport").status_code == 404
    assert bulk.get("/acme/basic/streams").status_code == 404
    assert bulk.get("/acme/enhanced/streams/2026/xx").status_code == 404
    assert bulk.get("/acme/enhanced/streams/2026/11/20/ZZ").status_code == 404  # no such country file
    assert bulk.get("/acme/enhanced/users/2026/11/20/US").status_code == 404  # users is not per country
    assert bulk.get("/acme/enhanced/streams/2026/2/30").status_code == 404
    assert bulk.http.get(bulk.emu.base_url + "/v1/nosuchendpoint").status_code == 404


def test_listings_follow_relative_uris_padded_for_one_licensor_and_not_the_other(bulk):
    acme = bulk.day_uri("acme", "streams", DAY.replace(day=5))
    globex = bulk.day_uri("globex", "streams", DAY.replace(day=5))
    assert acme == "/acme/enhanced/streams/2026/11/05"
    assert globex == "/globex/enhanced/streams/2026/11/5"
    assert bulk.listing("/acme/enhanced/streams/2026")[-1] == "/acme/enhanced/streams/2026/11"
    assert "/globex/enhanced/streams/2026/9" in bulk.listing("/globex/enhanced/streams/2026")
    # both spellings are accepted when requested
    for path in ("/globex/enhanced/users/2026/11/05", "/acme/enhanced/users/2026/11/5"):
        assert bulk.get(path).status_code == 200
    assert bulk.listing("/acme/enhanced") == [
        f"/acme/enhanced/{r.api_name}" for r in REPORTS_BY_NAME.values()
    ]


def test_availability_window_lag_and_history(bulk):
    last = TODAY - timedelta(days=bulk.emu.config.lag_days)
    first = TODAY - timedelta(days=bulk.emu.config.history_days)
    days = bulk.listing(f"/acme/enhanced/users/{last.year}/{last.month:02d}")
    assert days[-1].endswith(f"/{last.day:02d}")
    assert bulk.get(f"/acme/enhanced/users/{last:%Y/%m/%d}").status_code == 200
    assert bulk.get(f"/acme/enhanced/users/{TODAY:%Y/%m/%d}").status_code == 404  # lag
    assert bulk.get(f"/acme/enhanced/streams/{TODAY:%Y/%m/%d}").status_code == 404
    assert bulk.get(f"/acme/enhanced/users/{first:%Y/%m/%d}").status_code == 200
    before = first - timedelta(days=1)
    assert bulk.get(f"/acme/enhanced/users/{before:%Y/%m/%d}").status_code == 404
    years = bulk.listing("/acme/enhanced/users")
    assert years == [f"/acme/enhanced/users/{y}" for y in range(first.year, last.year + 1)]
    first_months = bulk.listing(years[0])
    assert int(first_months[0].rsplit("/", 1)[1]) == first.month
    assert bulk.get("/acme/enhanced/users/2027").status_code == 404


def test_per_country_files_are_gzip_ndjson_with_the_registry_fields(bulk):
    day_uri = bulk.day_uri("acme", "streams", DAY)
    countries = bulk.listing(day_uri)
    assert len(countries) >= 30 and "/acme/enhanced/streams/2026/11/20/US" in countries
    response = bulk.get(day_uri + "/US")
    assert response.status_code == 200
    head = bulk.http.head(
        bulk.emu.bulk_api_url + day_uri + "/US", headers={"Authorization": f"Bearer {bulk.token}"}
    )
    assert head.status_code == 200 and head.content == b""
    assert head.headers["content-length"] == str(len(response.content))
    assert response.headers["content-type"] in ("application/octet-stream", "application/gzip")
    assert 'filename="streams_2026-11-20_US.json.gz"' in response.headers["content-disposition"]
    assert response.content[:2] == b"\x1f\x8b"
    records = decode(response.content)
    assert records and all(set(r) == {f.name for f in STREAMS.fields} for r in records)
    assert all(r["country"] == "US" and r["stream_length"] >= 30_000 for r in records)
    stamps = [r["timestamp"] for r in records]
    assert stamps == sorted(stamps) and all(s.startswith("2026-11-20T") and s.endswith("Z") for s in stamps)
    assert all(len(r["track_id"]) == 22 and r["track_id"].isalnum() for r in records)
    playlist = [r for r in records if r["source"] in ("others_playlist", "own_playlist")]
    assert playlist and all(r["source_uri"].startswith("spotify:playlist:") for r in playlist)
    assert all(r["source_uri"] == "" for r in records if r not in playlist)
    sub30 = bulk.records("acme", "sub_30_sec_streams", DAY)
    assert sub30 and all(r["stream_length"] < 30_000 and not r["completion"] for r in sub30)


def test_per_day_files_have_the_registry_fields(bulk):
    users = bulk.records("globex", "users", DAY)
    assert users and all(set(u) == {f.name for f in USERS.fields} for u in users)
    assert {u["gender"] for u in users} <= {"female", "male", "non_binary", "unknown"}
    assert {u["product"] for u in users} <= {"free", "premium", "family", "duo", "student"}
    assert any(u["birth_year"] is None for u in users) and any(
        isinstance(u["birth_year"], int) for u in users
    )
    tracks = bulk.records("globex", "tracks", DAY)
    assert tracks and all(set(t) == {f.name for f in TRACKS.fields} for t in tracks)
    assert all(t["track_uri"] == f"spotify:track:{t['track_id']}" for t in tracks)
    assert {len(t["release_date"]) for t in tracks} >= {4, 7, 10}  # mixed precision
    response = bulk.get(bulk.day_uri("globex", "aggregatedstreams", DAY))
    assert 'filename="aggregatedstreams_2026-11-20.json.gz"' in response.headers["content-disposition"]
    record = json.loads(gzip.decompress(response.content).splitlines()[0])
    assert set(record) == {
        "date",
        "licensor",
        "trackv2",
        "album",
        "artists",
        "listeners",
        "streams",
        "skips",
        "saves",
    }
    assert record["date"] == "2026-11-20" and record["licensor"] == "globex"
    assert set(record["trackv2"]) == {"name", "uri", "href", "isrc"}
    assert set(record["album"]) == {"name", "uri", "href", "upc"}


def test_keep_alive_serves_many_requests_on_one_connection(emu):
    opened = emu.connections_opened
    client = Bulk(emu)  # the token request opens the connection
    try:
        for _ in range(5):
            assert client.get("/acme/enhanced/streams").status_code == 200
        assert client.get("/acme/enhanced/streams/2026/11/20/US").status_code == 200
        assert emu.connections_opened == opened + 1
    finally:
        client.close()
    assert emu.count(status=200, path_prefix="/v1/analytics/acme") >= 6
    assert ("POST", "/api/token", 200) in emu.request_log
