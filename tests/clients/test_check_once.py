"""A loaded day is inflated once: landing's inflate is the download's gzip check, and the archive
still never holds a truncated or corrupt download (it is caught, downloaded again and checked)."""

from __future__ import annotations

import asyncio
import gzip
import hashlib
import json
from collections import Counter
from datetime import date

import pytest

from pipeline.clients import sink
from pipeline.clients.bulk_api import RemoteFile
from pipeline.clients.http import RetryableError
from pipeline.ingest.archive import MANIFEST_NAME, read_manifest
from pipeline.ingest.load import LoadFailed, load_report
from pipeline.layout import Layout
from pipeline.reports import report_by_name
from pipeline.storage import gzip_stream
from tests.kits.fake_api import listing, respond
from tests.kits.ndjson import stream_records

STREAMS = report_by_name("streams")
DAY = date(2026, 11, 20)
ROOT = "/acme/enhanced/streams/2026/11/20"
COUNTRIES = ("GB", "US")
ROWS = 2000


def body(country: str) -> bytes:
    records = stream_records(ROWS, seed=len(country) + ord(country[0]), country=country)
    return gzip.compress(b"".join(json.dumps(r).encode() + b"\n" for r in records), mtime=0)


GOOD = {c: body(c) for c in COUNTRIES}
TRUNCATED = GOOD["US"][:-9]  # the deflate stream and trailer cut short
BAD_CRC = GOOD["US"][:-8] + bytes([GOOD["US"][-8] ^ 0xFF]) + GOOD["US"][-7:]  # the trailer's CRC32 wrong


@pytest.fixture(autouse=True)
def small_probe(monkeypatch) -> int:
    """The download's first inflate step, far smaller than a file as on real days (4 MB vs ~100s of MB),
    so the deferred check sees only a file's head and a bad tail is left to the landing to find."""
    step = 16 << 10
    monkeypatch.setattr(sink, "_INFLATE_STEP", step)
    return step


def serve_day(api, us_replies) -> None:
    api.route("/acme/enhanced/streams", listing("/acme/enhanced/streams/2026"))
    api.route("/acme/enhanced/streams/2026", listing("/acme/enhanced/streams/2026/11"))
    api.route("/acme/enhanced/streams/2026/11", listing(ROOT))
    api.route(ROOT, listing(*(f"{ROOT}/{c}" for c in COUNTRIES)))
    api.route(f"{ROOT}/GB", respond(200, GOOD["GB"]))
    api.route(f"{ROOT}/US", *(respond(200, reply) for reply in us_replies))


def load(make_client, layout: Layout, said: list[str]):
    async def main():
        async with make_client() as client:
            return await load_report(client, layout, STREAMS, "acme", DAY, progress=said.append)

    return asyncio.run(main())


def requests_of(api) -> Counter[str]:
    return Counter(path.rsplit("/", 1)[-1] for path in api.paths() if path.startswith(ROOT + "/"))


def test_a_whole_day_is_inflated_once(api, make_client, tmp_path, monkeypatch, small_probe):
    """The download inflates only up to its first output step; landing inflates the rest once."""
    step = small_probe
    inflated = Counter[str]()
    feed = gzip_stream.GzipStream.feed

    def counted(self, data):
        for out in feed(self, data):
            inflated["bytes"] += len(out)
            yield out

    monkeypatch.setattr(gzip_stream.GzipStream, "feed", counted)
    serve_day(api, [GOOD["US"]])
    layout = Layout(tmp_path / "data")
    outcome = load(make_client, layout, said := [])

    day_bytes = sum(len(gzip.decompress(b)) for b in GOOD.values())
    assert day_bytes > 10 * step * len(COUNTRIES)  # so a second full inflate could not hide below
    assert day_bytes <= inflated["bytes"] <= day_bytes + step * len(COUNTRIES)
    assert outcome.landing is not None and outcome.landing.tables[0].rows == ROWS * len(COUNTRIES)
    assert requests_of(api) == {"GB": 1, "US": 1}
    assert not any("gzip check" in message for message in said)
    archived = read_manifest(layout.archive_partition("streams", "acme", DAY))
    assert {f.name: f.path.read_bytes() for f in archived.files} == {
        f"streams_2026-11-20_{c}.json.gz": GOOD[c] for c in COUNTRIES
    }


@pytest.mark.parametrize(("bad", "cause"), [(TRUNCATED, "incomplete gzip"), (BAD_CRC, "corrupt gzip")])
def test_a_bad_download_is_caught_downloaded_again_and_never_archived(api, make_client, tmp_path, bad, cause):
    serve_day(api, [bad, GOOD["US"]])
    layout = Layout(tmp_path / "data")
    outcome = load(make_client, layout, said := [])

    assert outcome.landing is not None and outcome.landing.tables[0].rows == ROWS * len(COUNTRIES)
    assert any(m.startswith(f"a downloaded file failed its gzip check ({cause}") for m in said)
    assert any(m.endswith("downloading the day again") for m in said)
    assert requests_of(api) == {"GB": 2, "US": 2}  # the unchecked download, then the checked one
    partition = layout.archive_partition("streams", "acme", DAY)
    us = partition / "streams_2026-11-20_US.json.gz"
    assert us.read_bytes() == GOOD["US"]
    manifest = {f.name: f.sha256 for f in read_manifest(partition).files}
    assert manifest[us.name] == hashlib.sha256(GOOD["US"]).hexdigest()
    assert list((layout.staging_root).iterdir()) == []


def test_a_download_that_stays_bad_fails_clearly_and_archives_nothing(api, make_client, tmp_path):
    serve_day(api, [TRUNCATED])
    layout = Layout(tmp_path / "data")
    with pytest.raises(LoadFailed) as failure:
        load(make_client, layout, [])
    assert str(failure.value) == (
        f"streams for acme on 2026-11-20 failed: GET /v1/analytics{ROOT}/US failed after 3 attempt(s): "
        "last error: incomplete gzip stream (the body ended before the end of the gzip data)"
    )
    assert requests_of(api)["US"] == 1 + 3  # unchecked once, then the checked download's attempts
    assert not layout.archive_partition("streams", "acme", DAY).exists()
    assert not (layout.data_dir / "lake").exists()


def test_a_landing_failing_on_its_data_still_archives_the_checked_originals(api, make_client, tmp_path):
    """As when the archive was published first: the originals are kept for a look, checked whole."""
    renamed = gzip.compress(gzip.decompress(GOOD["US"]).replace(b'"stream_length"', b'"length_s"'), mtime=0)
    serve_day(api, [renamed])
    layout = Layout(tmp_path / "data")
    with pytest.raises(LoadFailed, match="stream_length"):
        load(make_client, layout, [])
    partition = layout.archive_partition("streams", "acme", DAY)
    assert (partition / "streams_2026-11-20_US.json.gz").read_bytes() == renamed
    assert (partition / MANIFEST_NAME).is_file()
    assert requests_of(api) == {"GB": 1, "US": 1}  # checked where they lay, not downloaded again


def test_the_deferred_check_tells_empty_files_and_proves_them_later(api, make_client, tmp_path):
    """`check_gzip=False` still says which files hold no data; `check_downloaded` is the full check."""
    empty = gzip.compress(b"", mtime=0)
    api.route(f"{ROOT}/SE", respond(200, empty))
    api.route(f"{ROOT}/US", respond(200, TRUNCATED))

    async def main():
        async with make_client() as client:
            got = {}
            for country in ("SE", "US"):
                remote = RemoteFile(f"{ROOT}/{country}", country, f"{country}.json.gz")
                got[country] = await client.download(remote, tmp_path, check_gzip=False)
            with pytest.raises(RetryableError, match="incomplete gzip stream"):
                client.check_downloaded(got["US"].remote, got["US"].path)
            client.check_downloaded(got["SE"].remote, got["SE"].path)
            return got

    got = asyncio.run(main())
    assert (got["SE"].empty, got["US"].empty) == (True, False)
    assert got["US"].path.read_bytes() == TRUNCATED  # kept as received: proving it is the caller's job
