"""The Bulk API modes over real HTTP: signed downloads, 404 by place, totals, renamed fields, id forms."""

from __future__ import annotations

import gzip
import time
import zlib
from collections import Counter
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from pipeline.emulator import EmulatorConfig, start_emulator
from pipeline.emulator.catalog import build_catalog
from pipeline.emulator.config import modes_from_options, parse_modes
from pipeline.spotify_ids import base62_to_gid, gid_to_base62, normalize_track_id
from tests.kits.emulator_http import DAY, TODAY, Bulk, decode

US = "/acme/enhanced/streams/2026/11/20/US"
USERS = "/acme/enhanced/users/2026/11/20"


def test_modes_parse_from_cli_options():
    assert modes_from_options(
        {"downloads": "signed", "redirect-status": "307", "web_api_mode": "extended"}
    ) == {
        "downloads": "signed",
        "redirect_status": 307,
        "web_api_mode": "extended",
    }
    assert parse_modes(["aggregated_shape=totals", "signed_url_ttl_seconds=5"]) == {
        "aggregated_shape": "totals",
        "signed_url_ttl_seconds": 5,
    }
    for bad in (
        {"downloads": "ftp"},
        {"colour": "red"},
        {"redirect_status": "301"},
        {"signed_url_ttl_seconds": "x"},
    ):
        with pytest.raises(ValueError):
            modes_from_options(bad)
    with pytest.raises(ValueError):
        parse_modes(["downloads"])


# -- signed downloads ------------------------------------------------------------------------------
def test_a_file_request_redirects_to_a_signed_url_on_the_storage_origin(make_emulator):
    emu = make_emulator(downloads="signed")
    client = Bulk(emu)
    response = client.get(US)  # httpx does not follow redirects unless asked
    assert response.status_code == 303
    location = response.headers["location"]
    storage, api = urlsplit(location), urlsplit(emu.base_url)
    assert emu.storage_url and location.startswith(emu.storage_url)
    assert storage.hostname == "127.0.0.1" and storage.port != api.port
    query = parse_qs(storage.query)
    assert {"X-Goog-Signature", "X-Goog-Expires", "X-Goog-Date"} <= set(query)
    assert query["X-Goog-Expires"] == ["60"]
    body = httpx.get(location)  # no Authorization: the signature is the credential
    assert body.status_code == 200 and body.headers["content-type"] == "application/gzip"
    assert "content-encoding" not in body.headers
    assert decode(body.content) and all(r["country"] == "US" for r in decode(body.content))
    assert client.get("/acme/enhanced/streams/2026/11/20").status_code == 200  # listings stay direct
    assert client.get(USERS).status_code == 303  # per-day files redirect too
    assert emu.storage_requests_with_authorization == 0
    assert [r.status for r in emu.storage_requests] == [200]
    assert not any("X-Goog" in path for _, path, _ in emu.request_log)  # the query is never logged


def test_signed_bytes_equal_direct_bytes_and_redirect_status_is_configurable(make_emulator):
    direct = Bulk(make_emulator())
    signed = make_emulator(downloads="signed", redirect_status=307, storage_content_encoding="gzip")
    client = Bulk(signed)
    response = client.get(US)
    assert response.status_code == 307
    followed = httpx.get(response.headers["location"])
    assert followed.headers["content-encoding"] == "gzip"
    assert followed.content == gzip.decompress(direct.download(US))  # httpx inflated it once
    assert signed.storage_requests_with_authorization == 0


def test_storage_refuses_an_authorization_header_and_counts_it(make_emulator):
    emu = make_emulator(downloads="signed")
    client = Bulk(emu)
    location = client.get(US).headers["location"]
    refused = httpx.get(location, headers={"Authorization": f"Bearer {client.token}"})
    assert refused.status_code == 400 and b"<Code>InvalidArgument</Code>" in refused.content
    assert emu.storage_requests_with_authorization == 1
    assert "authorization" in emu.storage_requests[0].header_names
    followed = client.get(US, follow_redirects=True)  # httpx drops Authorization across origins
    assert followed.status_code == 200 and decode(followed.content)
    assert emu.storage_requests_with_authorization == 1


def test_expired_or_tampered_urls_get_403(make_emulator):
    emu = make_emulator(downloads="signed", signed_url_ttl_seconds=4)  # room for a loaded machine
    client = Bulk(emu)
    location = client.get(US).headers["location"]
    tampered = location.replace("X-Goog-Expires=4", "X-Goog-Expires=3600")
    bad = httpx.get(tampered)
    assert bad.status_code == 403 and b"SignatureDoesNotMatch" in bad.content
    other_path = location.replace("/US?", "/GB?")
    assert b"SignatureDoesNotMatch" in httpx.get(other_path).content
    unsigned = httpx.get(location.split("?")[0])
    assert unsigned.status_code == 403
    time.sleep(5.05)
    expired = httpx.get(location)
    assert expired.status_code == 403 and b"<Code>ExpiredToken</Code>" in expired.content
    fresh = httpx.get(client.get(US).headers["location"])  # ask the API again: a fresh URL works
    assert fresh.status_code == 200


def test_storage_faults_and_signed_expired(make_emulator):
    emu = make_emulator(
        "signed_expired:count=1",
        "server_error:scope=storage,count=1,status=503",
        "truncate:scope=storage,count=1",
        downloads="signed",
    )
    client = Bulk(emu)
    answers = [httpx.get(client.get(US).headers["location"]) for _ in range(4)]
    assert [a.status_code for a in answers] == [403, 503, 200, 200]
    assert b"<Code>ExpiredToken</Code>" in answers[0].content
    with pytest.raises((EOFError, zlib.error, gzip.BadGzipFile)):
        gzip.decompress(answers[2].content)  # truncated on the storage host
    assert decode(answers[3].content)
    assert [k for k, _, _ in emu.fault_log] == ["signed_expired", "server_error", "truncate"]


def test_rate_limit_applies_to_the_redirecting_request(make_emulator):
    emu = make_emulator("rate_limit:scope=files,count=1", "truncate:count=1", downloads="signed")
    client = Bulk(emu)
    assert client.get(US).status_code == 429
    assert client.get(US).status_code == 303  # `truncate` has no body to cut on a redirect
    assert [k for k, _, _ in emu.fault_log] == ["rate_limit"]


# -- 404 and 403 by place -----------------------------------------------------------------------------
def test_missing_file_and_forbidden_licensor(make_emulator):
    emu = make_emulator("missing_file:count=2", "forbidden_licensor:licensor=globex")
    client = Bulk(emu)
    assert US in client.listing("/acme/enhanced/streams/2026/11/20")  # named in the listing...
    assert [client.get(US).status_code for _ in range(3)] == [404, 404, 200]  # ...then briefly missing
    assert client.get(USERS).status_code == 200
    for path in ("/globex/enhanced/streams", "/globex/enhanced", "/globex/enhanced/users/2026/11/20"):
        refused = client.get(path)
        assert refused.status_code == 403 and "globex" in refused.json()["error"]["message"]
    assert client.get("/initech/enhanced/streams").status_code == 404


def test_quota_ban_on_the_bulk_api(make_emulator):
    emu = make_emulator("quota_ban:scope=bulk,retry_after=90000")
    client = Bulk(emu)
    for path in ("/acme/enhanced/streams", US, "/acme/enhanced/nosuchreport"):
        banned = client.get(path)
        assert banned.status_code == 429 and banned.headers["retry-after"] == "90000"
        assert banned.json() == {
            "error": {"status": 429, "message": "API rate limit exceeded", "reason": "QUOTA_EXCEEDED"}
        }


# -- content modes ----------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def totals_days(tmp_path_factory):
    """The same day served in the nested and the totals shape."""
    root = tmp_path_factory.mktemp("totals")
    out = {}
    for shape in ("nested", "totals"):
        config = EmulatorConfig(today=TODAY, rows_per_day=3000, aggregated_shape=shape, cache_dir=root)
        with start_emulator(config) as running:
            client = Bulk(running)
            out[shape] = (
                {
                    r: client.records("acme", r, DAY)
                    for r in ("streams", "sub_30_sec_streams", "aggregatedstreams")
                },
                running.expected("acme", DAY),
            )
            client.close()
    return out


def test_totals_shape_parses_and_reconciles_with_the_stream_rows(totals_days):
    records, expected = totals_days["totals"]
    agg = records["aggregatedstreams"]
    assert agg
    streams: Counter = Counter()
    skips: Counter = Counter()
    for record in agg:
        assert set(record) == {"date", "trackv2", "album", "streams", "skips", "saves"}
        assert set(record["trackv2"]) == {"name", "href", "isrc"}
        assert set(record["album"]) == {"name", "href", "upc"}
        assert record["album"]["href"].startswith("https://api.spotify.com/v1/albums/")
        track = record["trackv2"]["href"].removeprefix("https://api.spotify.com/v1/tracks/")
        for part in ("streams", "skips", "saves"):
            block = record[part]
            assert block["total"] == sum(c["total"] for c in block["country"].values())
            assert all(set(c) == {"total"} for c in block["country"].values())  # no gender, age, product
        saves = record["saves"]
        assert set(saves) == {"total", "country", "product"} and set(saves["product"]) <= {"free", "premium"}
        assert sum(saves["product"].values()) == saves["total"]
        streams.update({(track, c): v["total"] for c, v in record["streams"]["country"].items()})
        skips.update({(track, c): v["total"] for c, v in record["skips"]["country"].items()})
    assert streams == Counter((r["track_id"], r["country"]) for r in records["streams"])
    assert skips == Counter((r["track_id"], r["country"]) for r in records["sub_30_sec_streams"])
    assert expected["aggregated_count"] == sum(len(a["streams"]["country"]) for a in agg)
    assert expected["aggregated_saves"] == sum(len(a["saves"]["country"]) for a in agg)
    nested, nested_expected = totals_days["nested"]
    assert nested["streams"] == records["streams"]  # only the aggregated report differs
    assert nested_expected["aggregated_summary"] == expected["aggregated_summary"] == len(agg)
    by_track = {a["trackv2"]["uri"].split(":")[-1]: a for a in nested["aggregatedstreams"]}
    for record in agg:
        twin = by_track[record["trackv2"]["href"].rsplit("/", 1)[1]]
        assert record["saves"]["total"] == twin["saves"]["total"]


def test_warehouse_field_names(make_emulator):
    contract = Bulk(make_emulator())
    emu = make_emulator(field_names="warehouse")
    client = Bulk(emu)
    streams = client.records("acme", "streams", DAY) + client.records("acme", "sub_30_sec_streams", DAY)
    renamed = {
        "stream_source",
        "stream_source_uri",
        "stream_cached",
        "stream_device",
        "stream_os",
        "customer_id",
        "country_code",
    }
    gone = {"source", "source_uri", "cached", "device_type", "os", "user_id", "country"}
    assert streams and all(renamed <= set(r) and not gone & set(r) for r in streams)
    users = client.records("acme", "users", DAY)
    assert all({"customer_id", "country_code", "user_product_type"} <= set(u) for u in users)
    assert all(not {"user_id", "country", "product"} & set(u) for u in users)
    originals = contract.records("acme", "streams", DAY) + contract.records("acme", "sub_30_sec_streams", DAY)
    assert [r["stream_source_uri"] for r in streams] == [r["source_uri"] for r in originals]
    assert [r["country_code"] for r in streams] == [r["country"] for r in originals]
    agg = client.records("acme", "aggregatedstreams", DAY)[0]  # other reports keep their names
    assert "licensor" in agg and all(isinstance(c, dict) for c in agg["streams"]["country"].values())
    assert client.files("acme", "users", DAY) == Bulk(make_emulator(field_names="warehouse")).files(
        "acme", "users", DAY
    )  # deterministic
    assert emu.expected("acme", DAY) == contract.emu.expected("acme", DAY)


def test_mixed_track_id_forms_normalize_back_to_the_catalog_ids(make_emulator):
    catalog = {t.id for t in build_catalog(42, "acme").tracks}
    emu = make_emulator(track_id_forms="mixed")
    client = Bulk(emu)
    plain = Bulk(make_emulator())
    for report in ("streams", "sub_30_sec_streams", "tracks"):
        mixed = client.records("acme", report, DAY)
        forms = Counter(
            "uri"
            if r["track_id"].startswith("spotify:track:")
            else "gid"
            if len(r["track_id"]) == 32
            else "b62"
            for r in mixed
        )
        assert forms["uri"] and forms["gid"] and forms["b62"] > forms["uri"] + forms["gid"], (report, forms)
        ids = [normalize_track_id(r["track_id"]) for r in mixed]
        assert ids == [r["track_id"] for r in plain.records("acme", report, DAY)]
        assert set(ids) <= catalog
    assert emu.expected("acme", DAY) == plain.emu.expected("acme", DAY)


def test_spotify_ids_round_trip():
    for track in build_catalog(42, "globex").tracks[:200]:
        gid = base62_to_gid(track.id)
        assert len(gid) == 32 and gid_to_base62(gid) == track.id
        assert normalize_track_id(f"spotify:track:{track.id}") == track.id
        assert normalize_track_id(gid.upper()) == track.id
    assert gid_to_base62("0" * 32) == "0" * 22
    assert gid_to_base62("f" * 32) == "7N42dgm5tFLK9N8MT7fHC7"  # 2**128 - 1 in Spotify's alphabet
    assert gid_to_base62(f"{62**21:032x}") == "1" + "0" * 21
    for bad in ("", "spotify:album:4uLU6hMCjMI75M1A2tKUQC", "x" * 21, "g" * 32, None, 12):
        assert normalize_track_id(bad) is None
