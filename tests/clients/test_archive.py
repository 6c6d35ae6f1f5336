"""Archive partitions: concurrent downloads, a manifest, atomic publish, and verification."""

from __future__ import annotations

import asyncio
import gzip
import hashlib
import json
import os
from datetime import date

import httpx
import pytest

from pipeline.clients.bulk_api import NotAvailable
from pipeline.clients.http import ApiStatusError, RetriesExhausted
from pipeline.ingest.archive import (
    MANIFEST_NAME,
    ManifestError,
    fetch_partition,
    read_manifest,
    verify_manifest,
)
from pipeline.layout import Layout
from pipeline.reports import report_by_name
from tests.kits.fake_api import CLIENT_SECRET, listing, respond

STREAMS = report_by_name("streams")
USERS = report_by_name("users")
DAY = date(2026, 11, 20)
ROOT = "/acme/enhanced/streams/2026/11/20"
COUNTRIES = ("US", "GB", "SE")


def body(country: str, version: int = 1) -> bytes:
    lines = b"".join(
        b'{"country": "%s", "n": %d, "v": %d}\n' % (country.encode(), i, version) for i in range(200)
    )
    return gzip.compress(lines, mtime=0)


def streams_day(api, version: int = 1, countries=COUNTRIES) -> None:
    api.route("/acme/enhanced/streams", listing("/acme/enhanced/streams/2026"))
    api.route("/acme/enhanced/streams/2026", listing("/acme/enhanced/streams/2026/11"))
    api.route("/acme/enhanced/streams/2026/11", listing(ROOT))
    api.route(ROOT, listing(*(f"{ROOT}/{c}" for c in countries)))
    for country in countries:
        api.route(f"{ROOT}/{country}", respond(200, body(country, version)))


def fetch(make_client, layout, report=STREAMS, progress=None, **options):
    async def main():
        async with make_client(**options) as client:
            return await fetch_partition(client, layout, report, "acme", DAY, on_progress=progress)

    return asyncio.run(main())


@pytest.fixture
def layout(tmp_path) -> Layout:
    return Layout(tmp_path / "data")


def test_fetch_partition_publishes_files_and_manifest(api, make_client, layout):
    streams_day(api)
    progress: list[tuple[int, int, str]] = []
    partition = fetch(make_client, layout, progress=lambda *args: progress.append(args))

    final = layout.archive_partition("streams", "acme", DAY)
    assert partition.directory == final
    assert (partition.report, partition.licensor, partition.day) == ("streams", "acme", DAY)
    names = [
        "streams_2026-11-20_GB.json.gz",
        "streams_2026-11-20_SE.json.gz",
        "streams_2026-11-20_US.json.gz",
    ]
    assert [f.name for f in partition.files] == names
    assert sorted(os.listdir(final)) == sorted([*names, MANIFEST_NAME])
    for f in partition.files:
        assert f.path == final / f.name
        assert f.path.read_bytes() == body(f.country)
        assert f.sha256 == hashlib.sha256(body(f.country)).hexdigest()
        assert f.uri == f"{ROOT}/{f.country}"
    assert partition.total_bytes == sum(len(body(c)) for c in COUNTRIES)
    assert [p[:2] for p in progress] == [(1, 3), (2, 3), (3, 3)]
    assert sorted(p[2] for p in progress) == names

    manifest_text = (final / MANIFEST_NAME).read_text()
    manifest = json.loads(manifest_text)
    assert manifest["report"] == "streams" and manifest["api_report"] == "streams"
    assert (manifest["licensor"], manifest["date"]) == ("acme", "2026-11-20")
    assert manifest["fetched_at"].endswith("Z")
    assert manifest["files"][0] == {
        "name": names[0],
        "uri": f"{ROOT}/GB",
        "country": "GB",
        "bytes": len(body("GB")),
        "sha256": hashlib.sha256(body("GB")).hexdigest(),
        "empty": False,
    }
    for secret in (CLIENT_SECRET, "token-1", "Bearer", "authorization"):
        assert secret.lower() not in manifest_text.lower()

    assert verify_manifest(final) == []
    assert read_manifest(final) == partition
    assert read_manifest(final / MANIFEST_NAME) == partition
    assert os.listdir(layout.staging_root) == []


def test_per_day_report_archives_its_single_file(api, make_client, layout):
    gz = gzip.compress(b'{"user_id": "u1"}\n')
    api.route("/acme/enhanced/users", listing("/acme/enhanced/users/2026"))
    api.route("/acme/enhanced/users/2026", listing("/acme/enhanced/users/2026/11"))
    api.route("/acme/enhanced/users/2026/11", listing("/acme/enhanced/users/2026/11/20"))
    api.route("/acme/enhanced/users/2026/11/20", respond(200, gz))
    partition = fetch(make_client, layout, report=USERS)
    (only,) = partition.files
    assert (only.name, only.country, only.bytes) == ("users_2026-11-20.json.gz", None, len(gz))
    assert partition.directory == layout.archive_partition("users", "acme", DAY)
    assert verify_manifest(partition.directory) == []


def test_a_failing_second_file_leaves_the_previous_archive_intact(api, make_client, layout):
    streams_day(api, version=1)
    before = fetch(make_client, layout)
    snapshot = {p.name: p.read_bytes() for p in before.directory.iterdir()}

    streams_day(api, version=2)
    api.route(f"{ROOT}/SE", respond(503))  # the second file (by country order) keeps failing
    with pytest.raises(RetriesExhausted, match=rf"GET /v1/analytics{ROOT}/SE failed after 3 attempt"):
        fetch(make_client, layout)

    assert {p.name: p.read_bytes() for p in before.directory.iterdir()} == snapshot
    assert verify_manifest(before.directory) == []
    assert os.listdir(layout.staging_root) == []


def test_a_rerun_replaces_the_partition_as_a_whole(api, make_client, layout):
    streams_day(api, version=1)
    fetch(make_client, layout)
    api.routes.clear()
    streams_day(api, version=2, countries=("US", "BR"))
    partition = fetch(make_client, layout)
    final = layout.archive_partition("streams", "acme", DAY)
    assert sorted(os.listdir(final)) == [
        MANIFEST_NAME,
        "streams_2026-11-20_BR.json.gz",
        "streams_2026-11-20_US.json.gz",
    ]
    assert (final / "streams_2026-11-20_US.json.gz").read_bytes() == body("US", 2)
    assert verify_manifest(final) == []
    assert read_manifest(final) == partition
    assert os.listdir(layout.staging_root) == []


def test_downloads_run_concurrently_but_bounded(api, make_client, layout):
    countries = tuple(f"C{i}" for i in range(8))
    streams_day(api, countries=countries)
    in_flight, peak = [0], [0]

    def slow(country: str):
        async def reply(request: httpx.Request) -> httpx.Response:
            in_flight[0] += 1
            peak[0] = max(peak[0], in_flight[0])
            await asyncio.sleep(0.02)
            in_flight[0] -= 1
            return respond(200, body(country))(request)

        return reply

    for country in countries:
        api.route(f"{ROOT}/{country}", slow(country))
    partition = fetch(make_client, layout, max_concurrency=3)
    assert len(partition.files) == 8
    assert peak[0] == 3


def test_not_available_touches_nothing(api, make_client, layout):
    api.route("/acme/enhanced/streams", listing("/acme/enhanced/streams/2025"))
    with pytest.raises(NotAvailable, match="streams for acme on 2026-11-20 is not available yet"):
        fetch(make_client, layout)
    assert not layout.archive_root.exists()


def test_an_empty_day_publishes_a_manifest_without_files(api, make_client, layout):
    streams_day(api, countries=())
    partition = fetch(make_client, layout)
    assert partition.files == () and partition.total_bytes == 0
    assert os.listdir(partition.directory) == [MANIFEST_NAME]
    assert verify_manifest(partition.directory) == []


def test_verify_manifest_reports_every_kind_of_drift(api, make_client, layout):
    streams_day(api)
    partition = fetch(make_client, layout)
    gb, se, us = partition.files
    gb.path.write_bytes(b"X" + gb.path.read_bytes()[1:])  # same size, different content
    se.path.write_bytes(se.path.read_bytes()[:-1])  # truncated
    us.path.unlink()
    (partition.directory / "stray.json.gz").write_bytes(b"?")
    assert verify_manifest(partition.directory) == [
        f"sha256 mismatch for {gb.name}",
        f"size mismatch for {se.name}: {se.bytes - 1} bytes on disk, {se.bytes} in the manifest",
        f"missing file {us.name}",
        "extra file stray.json.gz is not in the manifest",
    ]


def test_verify_manifest_without_or_with_a_broken_manifest(tmp_path):
    assert verify_manifest(tmp_path) == [f"{tmp_path}: no {MANIFEST_NAME}"]
    (tmp_path / MANIFEST_NAME).write_text('{"report": "streams"}')
    (problem,) = verify_manifest(tmp_path)
    assert "is not a valid archive manifest" in problem


def test_read_manifest_refuses_names_that_leave_the_partition(tmp_path):
    doc = {
        "report": "streams",
        "licensor": "acme",
        "date": "2026-11-20",
        "fetched_at": "2026-11-21T00:00:00Z",
        "files": [{"name": "../../etc/passwd", "uri": "/x", "country": None, "bytes": 1, "sha256": "0"}],
    }
    (tmp_path / MANIFEST_NAME).write_text(json.dumps(doc))
    with pytest.raises(ManifestError, match="invalid archived file name"):
        read_manifest(tmp_path)


def test_a_failure_cancels_the_other_downloads_promptly(api, make_client, layout):
    streams_day(api)
    started = asyncio.Event()

    async def hang(request: httpx.Request) -> httpx.Response:
        started.set()
        await asyncio.sleep(30)
        raise AssertionError("should have been cancelled")

    async def fail_after_start(request: httpx.Request) -> httpx.Response:
        await started.wait()
        return httpx.Response(400)

    api.route(f"{ROOT}/GB", hang)
    api.route(f"{ROOT}/US", fail_after_start)

    async def main():
        async with make_client() as client:
            return await asyncio.wait_for(fetch_partition(client, layout, STREAMS, "acme", DAY), timeout=5)

    with pytest.raises(ApiStatusError, match=rf"GET /v1/analytics{ROOT}/US answered 400 Bad Request"):
        asyncio.run(main())
    assert os.listdir(layout.staging_root) == []
    assert not layout.archive_root.exists()
