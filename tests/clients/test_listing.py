"""Listing traversal: follow the listed uris, tell 'not yet' from failure, refuse unsafe uris."""

from __future__ import annotations

import asyncio
from datetime import date

import httpx
import pytest

from pipeline.clients.bulk_api import (
    InvalidListing,
    LicensorForbidden,
    NotAvailable,
    RemoteFile,
    UnknownLicensor,
)
from pipeline.clients.http import ApiError
from pipeline.reports import report_by_name
from tests.kits.fake_api import listing, respond

STREAMS = report_by_name("streams")
SUB30 = report_by_name("sub30_streams")
TRACKS = report_by_name("tracks")
DAY = date(2026, 3, 5)
ROOT = "/acme/enhanced/streams"


def list_files(make_client, report=STREAMS, licensor="acme", day=DAY):
    async def main():
        async with make_client() as client:
            return await client.list_files(report, licensor, day)

    return asyncio.run(main())


def unpadded_tree(api) -> None:
    api.route(ROOT, listing(f"{ROOT}/2025", f"{ROOT}/2026"))
    api.route(f"{ROOT}/2026", listing(f"{ROOT}/2026/2", f"{ROOT}/2026/3", f"{ROOT}/2026/12"))
    api.route(f"{ROOT}/2026/3", listing(f"{ROOT}/2026/3/4", f"{ROOT}/2026/3/5", f"{ROOT}/2026/3/15"))
    api.route(
        f"{ROOT}/2026/3/5", listing(f"{ROOT}/2026/3/5/US", f"{ROOT}/2026/3/5/GB", f"{ROOT}/2026/3/5/SE")
    )


def test_traversal_follows_unpadded_listed_uris(api, make_client):
    unpadded_tree(api)
    files = list_files(make_client)
    assert api.paths() == [ROOT, f"{ROOT}/2026", f"{ROOT}/2026/3", f"{ROOT}/2026/3/5"]
    assert files == [
        RemoteFile(f"{ROOT}/2026/3/5/GB", "GB", "streams_2026-03-05_GB.json.gz"),
        RemoteFile(f"{ROOT}/2026/3/5/SE", "SE", "streams_2026-03-05_SE.json.gz"),
        RemoteFile(f"{ROOT}/2026/3/5/US", "US", "streams_2026-03-05_US.json.gz"),
    ]


def test_traversal_follows_padded_uris_and_uses_the_api_name(api, make_client):
    root = "/acme/enhanced/sub_30_sec_streams"
    api.route(root, listing(f"{root}/2026"))
    api.route(f"{root}/2026", listing(f"{root}/2026/03/"))  # a trailing slash is tolerated
    api.route(f"{root}/2026/03", listing(f"{root}/2026/03/05"))
    api.route(f"{root}/2026/03/05", listing(f"{root}/2026/03/05/BR"))
    files = list_files(make_client, report=SUB30)
    assert api.paths() == [root, f"{root}/2026", f"{root}/2026/03", f"{root}/2026/03/05"]
    assert files == [RemoteFile(f"{root}/2026/03/05/BR", "BR", "sub30_streams_2026-03-05_BR.json.gz")]


def test_per_day_report_day_uri_is_the_file(api, make_client):
    root = "/acme/enhanced/tracks"
    api.route(root, listing(f"{root}/2026"))
    api.route(f"{root}/2026", listing(f"{root}/2026/03"))
    api.route(f"{root}/2026/03", listing(f"{root}/2026/03/04", f"{root}/2026/03/05"))
    files = list_files(make_client, report=TRACKS)
    assert files == [RemoteFile(f"{root}/2026/03/05", None, "tracks_2026-03-05.json.gz")]
    assert api.paths() == [root, f"{root}/2026", f"{root}/2026/03"]  # the file itself is not fetched


def test_empty_day_listing_is_a_day_without_data(api, make_client):
    unpadded_tree(api)
    api.route(f"{ROOT}/2026/3/5", listing())
    assert list_files(make_client) == []


@pytest.mark.parametrize("missing", [f"{ROOT}/2026", f"{ROOT}/2026/3", f"{ROOT}/2026/3/5"])
def test_404_below_the_report_root_is_not_available(api, make_client, missing):
    unpadded_tree(api)
    del api.routes[missing]
    with pytest.raises(NotAvailable) as info:
        list_files(make_client)
    assert str(info.value) == "streams for acme on 2026-03-05 is not available yet"
    assert not isinstance(info.value, ApiError)


@pytest.mark.parametrize(
    ("path", "entries"),
    [
        (ROOT, [f"{ROOT}/2025"]),
        (f"{ROOT}/2026", [f"{ROOT}/2026/2", f"{ROOT}/2026/30"]),
        (f"{ROOT}/2026/3", [f"{ROOT}/2026/3/4", f"{ROOT}/2026/3/6"]),
        (f"{ROOT}/2026/3", []),
    ],
)
def test_a_date_absent_from_its_listing_is_not_available(api, make_client, path, entries):
    unpadded_tree(api)
    api.route(path, listing(*entries))
    with pytest.raises(NotAvailable, match="streams for acme on 2026-03-05 is not available yet"):
        list_files(make_client)


def test_404_at_the_report_root_is_an_unknown_licensor(api, make_client, sleeps):
    unpadded_tree(api)
    del api.routes[ROOT]
    with pytest.raises(UnknownLicensor) as info:
        list_files(make_client)
    assert str(info.value).startswith(
        f"unknown licensor 'acme' (404 at {ROOT}): check SPOTIFY_LICENSORS against your welcome email"
    )
    assert isinstance(info.value, ApiError) and sleeps == []


@pytest.mark.parametrize("where", [ROOT, f"{ROOT}/2026/3"])
def test_403_means_the_licensor_is_forbidden(api, make_client, sleeps, where):
    unpadded_tree(api)
    api.route(where, respond(403, json={"error": {"status": 403, "message": "Forbidden"}}))
    with pytest.raises(
        LicensorForbidden, match=rf"client not allowed for licensor 'acme' \(403 at {where}\)"
    ):
        list_files(make_client)
    assert sleeps == []


@pytest.mark.parametrize(
    "bad_uri",
    [
        f"{ROOT}/2026/3/5/../../../../../../etc",
        f"{ROOT}/2026/3/5/..",
        f"{ROOT}/2026/3/5/%2e%2e",
        f"{ROOT}/2026/3/5/..%2F..%2Fsecrets",
        f"{ROOT}/2026/3/5/US%00",
        f"{ROOT}/2026/3/5//US",
        f"{ROOT}/2026/3/5/.hidden",
        f"{ROOT}/2026/3/5/US?x=1",
        f"{ROOT}/2026/3/5/US/extra",
        "/globex/enhanced/streams/2026/3/5/US",
        "/acme/enhanced/users/2026/3/5/US",
        "https://evil.example/acme/enhanced/streams/2026/3/5/US",
        f"{ROOT}/2026/4/5/US",  # not under the day we listed
        "/acme/enhanced/streams",
    ],
)
def test_unsafe_or_foreign_uris_are_rejected(api, make_client, bad_uri):
    unpadded_tree(api)
    api.route(f"{ROOT}/2026/3/5", listing(f"{ROOT}/2026/3/5/US", bad_uri))
    with pytest.raises(InvalidListing) as info:
        list_files(make_client)
    message = str(info.value)
    assert message.startswith(f"listing GET /v1/analytics{ROOT}/2026/3/5 lists ")
    assert any(word in message for word in ("unsafe segment", "outside", "not a child"))
    assert api.paths()[-1] == f"{ROOT}/2026/3/5"  # nothing past the bad listing was requested


def test_traversal_in_an_upper_listing_is_rejected_before_it_is_followed(api, make_client):
    unpadded_tree(api)
    api.route(ROOT, listing(f"{ROOT}/../../other/2026"))
    with pytest.raises(InvalidListing, match="unsafe segment"):
        list_files(make_client)
    assert api.paths() == [ROOT]


@pytest.mark.parametrize(
    ("reply", "message"),
    [
        (respond(200, b"<html>oops</html>"), "is not JSON"),
        (respond(200, json={"uri": f"{ROOT}/2026"}), "is not a JSON array"),
        (respond(200, json=[{"href": f"{ROOT}/2026"}]), "without a string 'uri'"),
        (respond(200, json=[f"{ROOT}/2026"]), "without a string 'uri'"),
    ],
)
def test_malformed_listings_are_invalid(api, make_client, reply, message):
    api.route(ROOT, reply)
    with pytest.raises(InvalidListing, match=message):
        list_files(make_client)


def test_unsafe_licensor_is_refused_before_any_request(api, make_client):
    with pytest.raises(ValueError, match="invalid licensor"):
        list_files(make_client, licensor="../acme")
    assert api.requests == []


def test_listing_5xx_is_retried(api, make_client, sleeps):
    unpadded_tree(api)
    good = api.routes[ROOT][0]
    api.route(ROOT, respond(502), respond(503, headers={"Retry-After": "2"}), good)
    assert len(list_files(make_client)) == 3
    assert sleeps == [1.0, 2.0]


def test_duplicate_entries_and_non_numeric_date_entries_are_tolerated(api, make_client):
    unpadded_tree(api)
    api.route(ROOT, listing(f"{ROOT}/latest", f"{ROOT}/2026", f"{ROOT}/2026"))
    api.route(f"{ROOT}/2026/3/5", listing(f"{ROOT}/2026/3/5/US", f"{ROOT}/2026/3/5/US"))
    assert [f.country for f in list_files(make_client)] == ["US"]


class EndlessBody(httpx.AsyncByteStream):
    """A listing body that never ends (no Content-Length): what a broken or hostile server sends."""

    def __init__(self) -> None:
        self.sent = 0

    async def __aiter__(self):
        while True:
            self.sent += 1 << 16
            yield b" " * (1 << 16)


def test_an_endless_listing_body_is_refused_at_the_cap(api, make_client):
    bodies: list[EndlessBody] = []

    def endless() -> EndlessBody:
        bodies.append(EndlessBody())
        return bodies[-1]

    api.route(ROOT, respond(200, stream=endless))
    with pytest.raises(InvalidListing, match=r"over the 1,048,576-byte cap for a listing"):
        list_files(lambda: make_client(max_listing_bytes=1 << 20))
    assert bodies[0].sent <= (1 << 20) + (1 << 16)  # stopped reading at the cap


def test_a_listing_declared_over_the_cap_is_refused_unread(api, make_client):
    api.route(ROOT, respond(200, b"[]" + b" " * 5000))
    with pytest.raises(InvalidListing, match=r"is 5,002 bytes, over the 4,096-byte cap"):
        list_files(lambda: make_client(max_listing_bytes=4096))
