"""Each fault is observable over real HTTP, and a retrying client recovers from transport faults."""

from __future__ import annotations

import gzip
import json
import time
import zlib

import httpx
import pytest

from pipeline.emulator import Fault, FaultPlan
from tests.kits.emulator_http import DAY, Bulk, decode

US = "/acme/enhanced/streams/2026/11/20/US"
USERS = "/acme/enhanced/users/2026/11/20"


def test_fault_strings_parse_and_round_trip():
    plan = FaultPlan.parse(["rate_limit:count=3,retry_after=1", "truncate:count=1", " slow : delay=0.5 "])
    kinds = [f.kind for f in plan.faults]
    assert kinds == ["rate_limit", "truncate", "slow"]
    assert plan.faults[0].count == 3 and plan.faults[0].retry_after == 1 and plan.faults[0].scope == "bulk"
    assert plan.faults[1].scope == "files"
    assert Fault.parse("server_error:status=502/503,date=2026-11-20,report=sub30_streams").report == (
        "sub_30_sec_streams"
    )
    for fault in plan.faults:
        assert Fault.parse(fault.spec()) == fault
    assert str(FaultPlan()) == "none"
    bad_specs = (
        "teapot",
        "rate_limit:count=-1",
        "slow:delay",
        "rate_limit:colour=red",
        "empty:date=2026-13-01",
        "rate_limit:scope=everything",
        "truncate:fraction=2",
    )
    for bad in bad_specs:
        with pytest.raises(ValueError):
            FaultPlan.parse([bad])


def test_rate_limit_answers_429_with_retry_after_then_recovers(make_emulator):
    emu = make_emulator("rate_limit:count=2,retry_after=3")
    client = Bulk(emu)  # token requests are not in the default `bulk` scope
    first, second, third = (client.get("/acme/enhanced/streams") for _ in range(3))
    assert (first.status_code, second.status_code, third.status_code) == (429, 429, 200)
    assert first.headers["retry-after"] == "3"
    assert first.json()["error"]["status"] == 429
    assert [k for k, _, _ in emu.fault_log] == ["rate_limit", "rate_limit"]


def test_server_error_burst_cycles_statuses(make_emulator):
    emu = make_emulator("server_error:count=3,scope=files")
    client = Bulk(emu)
    assert client.get("/acme/enhanced/streams").status_code == 200  # listings are out of scope
    statuses = [client.get(USERS).status_code for _ in range(4)]
    assert statuses == [500, 502, 503, 200]


def test_reset_closes_the_connection_mid_body(make_emulator):
    emu = make_emulator("reset:count=1")
    client = Bulk(emu)
    with pytest.raises((httpx.RemoteProtocolError, httpx.ReadError)):
        client.get(US)
    ok = client.get(US)  # the client reconnects; the next download is whole
    assert ok.status_code == 200 and decode(ok.content)


def test_slow_response_exceeds_a_client_timeout(make_emulator):
    emu = make_emulator("slow:delay=1.0,count=1")
    client = Bulk(emu, timeout=0.3)
    started = time.monotonic()
    with pytest.raises(httpx.ReadTimeout):
        client.get("/acme/enhanced/users")
    assert time.monotonic() - started < 0.9
    assert client.get("/acme/enhanced/users").status_code == 200


def test_truncated_gzip_only_fails_on_decompression(make_emulator):
    emu = make_emulator("truncate:count=1,fraction=0.6")
    client = Bulk(emu)
    cut = client.get(US)
    assert cut.status_code == 200
    assert int(cut.headers["content-length"]) == len(cut.content)  # HTTP sees a complete body
    with pytest.raises((EOFError, zlib.error, gzip.BadGzipFile)):
        gzip.decompress(cut.content)
    whole = client.get(US)
    assert len(whole.content) > len(cut.content) and whole.content.startswith(cut.content)
    assert decode(whole.content)


def test_token_expiry_gives_401_after_the_ttl(make_emulator):
    emu = make_emulator("token_expiry:ttl=0.5")
    client = Bulk(emu)
    assert client.get("/acme/enhanced/streams").status_code == 200
    time.sleep(0.7)
    expired = client.get("/acme/enhanced/streams")
    assert expired.status_code == 401
    client.token = client.new_token()
    assert client.get("/acme/enhanced/streams").status_code == 200


def test_transport_faults_can_be_narrowed_and_skip_requests(make_emulator):
    emu = make_emulator(
        "server_error:count=1,skip=1,licensor=globex,status=503", "rate_limit:scope=token,count=1"
    )
    cfg = emu.config
    token_url, auth = emu.accounts_url, (cfg.client_id, cfg.client_secret)
    assert httpx.post(token_url, auth=auth, data={"grant_type": "client_credentials"}).status_code == 429
    client = Bulk(emu)
    assert client.get("/acme/enhanced/users").status_code == 200
    assert [client.get("/globex/enhanced/users").status_code for _ in range(3)] == [200, 503, 200]
    emu.set_faults(FaultPlan.parse(["rate_limit:count=1"]))
    assert client.get("/acme/enhanced/users").status_code == 429
    emu.set_faults(FaultPlan())
    assert client.get("/acme/enhanced/users").status_code == 200


def test_malformed_lines_change_bytes_but_not_the_clean_cache(make_emulator, tmp_path):
    emu = make_emulator(rows_per_day=500)
    client = Bulk(emu)
    clean = client.get(USERS).content
    emu.set_faults(FaultPlan.parse(["malformed:lines=3,report=users"]))
    faulty = client.get(USERS).content
    assert faulty != clean
    lines = gzip.decompress(faulty).decode().splitlines()
    bad = []
    for i, line in enumerate(lines):
        try:
            json.loads(line)
        except json.JSONDecodeError:
            bad.append(i)
    assert bad == [1, 6, 11]
    assert len(lines) == len(gzip.decompress(clean).decode().splitlines())
    assert client.get(US).content == client.get(US).content  # other reports stay clean
    assert all(json.loads(x) for x in gzip.decompress(client.get(US).content).splitlines())
    emu.set_faults(FaultPlan())
    assert client.get(USERS).content == clean


def test_schema_drift_faults(make_emulator):
    emu = make_emulator(
        "drift_extra:report=users", "drift_missing:report=streams", "drift_type:report=streams"
    )
    client = Bulk(emu)
    users = client.records("acme", "users", DAY)
    assert all(u["new_metric"] == "drift" for u in users)
    streams = client.records("acme", "streams", DAY)
    assert all("region_code" not in r for r in streams)
    wrong = [r for r in streams if not isinstance(r["stream_length"], int)]
    assert wrong and all(isinstance(r["stream_length"], str) for r in wrong)
    assert len(wrong) < len(streams) / 2
    tracks = client.records("acme", "tracks", DAY)
    assert all("new_metric" not in t and isinstance(t["duration_ms"], int) for t in tracks)


def test_empty_day(make_emulator):
    emu = make_emulator("empty:licensor=acme,date=2026-11-20")
    client = Bulk(emu)
    assert client.listing(client.day_uri("acme", "streams", DAY)) == []
    assert client.get(US).status_code == 404
    users = client.get(USERS)
    assert users.status_code == 200 and gzip.decompress(users.content) == b""
    assert client.listing("/acme/enhanced/streams/2026/11/19")  # other days are not empty
    assert client.listing("/globex/enhanced/streams/2026/11/20")
    expected = emu.expected("acme", DAY)
    assert set(expected.values()) == {0}
    assert emu.expected("globex", DAY)["streams"] > 0


def test_republish_changes_a_day(make_emulator):
    emu = make_emulator(rows_per_day=500)
    client = Bulk(emu)
    before = client.files("acme", "streams", DAY)
    expected = emu.expected("acme", DAY)
    emu.republish("acme", DAY, 1)
    after = client.files("acme", "streams", DAY)
    assert after != before
    republished = emu.expected("acme", DAY)
    assert republished["streams"] + republished["sub30_streams"] == 550  # late rows: 10 % more
    assert expected["streams"] + expected["sub30_streams"] == 500
    assert sum(len(decode(b)) for b in after.values()) == republished["streams"]
    assert client.files("acme", "streams", date_before := DAY.replace(day=19)) == client.files(
        "acme", "streams", date_before
    )
    emu.republish("acme", DAY, 0)
    assert client.files("acme", "streams", DAY) == before
