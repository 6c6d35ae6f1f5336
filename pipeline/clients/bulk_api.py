"""Async client for Spotify's Bulk API: browse the listings to a day's files and download them.

Listings are followed by the `uri`s they contain (month and day may or may not be zero-padded), each
listed uri is validated before it is used, and a download is streamed to disk while its sha256, size
and gzip integrity are checked, so a truncated or hostile file never reaches the archive. A file
request may answer a redirect to a signed storage URL: it is fetched without our token, and a fresh
one is asked for when the storage host refuses it (expired). A 404 means what its place says: at a
report's root, a wrong licensor (fail loudly); on a day, not published yet; on a listed file, a
passing inconsistency (retried). The disk
writes, hashing and inflating run on worker threads (ISA-L, hashlib and file writes release the GIL),
so concurrent downloads use every core and the event loop only moves bytes off the sockets.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import email.message
import json
import logging
import os
import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

import httpx

from pipeline.clients.connection import Connection
from pipeline.clients.http import (
    ApiError,
    ApiStatusError,
    RetryableError,
    RetryPolicy,
    Sleep,
    Uniform,
    url_path,
)
from pipeline.clients.session import ApiSession, AuthError, TokenRejected
from pipeline.clients.sink import DownloadTooLarge, GzipCheck, Job, Sink, check_file, settle
from pipeline.layout import safe_name
from pipeline.reports import ReportSpec

log = logging.getLogger(__name__)

GIB = 1 << 30
DEFAULT_MAX_DECOMPRESSED_BYTES = 64 * GIB
CHUNK_BYTES = 1 << 20  # received bytes handed to a worker at a time
# A listing names a day's files (a few hundred countries at most, some KB): a body past this cap is
# a broken or hostile server, refused before it is held in memory.
DEFAULT_MAX_LISTING_BYTES = 8 << 20
_NUMBER = re.compile(r"^[0-9]{1,4}$")
REDIRECTS = frozenset({301, 302, 303, 307, 308})
# The storage host refusing a signed URL (bad request, expired or unknown signature, gone): ask the
# API for a fresh one, at most `url_renewals` times.
STORAGE_REFUSALS = frozenset({400, 401, 403, 404})
DEFAULT_URL_RENEWALS = 3
_IDENTITY = {"Accept-Encoding": "identity"}  # the gzip file as it is, never decoded in transit
# A storage host holding the file with `Content-Encoding: gzip` (GCS) serves it decompressed to a
# client that does not accept gzip ("decompressive transcoding"): accept it, and keep the raw bytes.
_STORED_AS_IS = {"Accept-Encoding": "gzip"}

__all__ = [
    "ApiError",
    "AuthError",
    "BulkApiClient",
    "DownloadTooLarge",
    "DownloadedFile",
    "InvalidListing",
    "LicensorForbidden",
    "NotAvailable",
    "RemoteFile",
    "SignedUrlRefused",
    "UnknownLicensor",
    "UnsafeFileName",
]


class NotAvailable(Exception):
    """The day (or file) is not published yet: an expected state, so deliberately not an ApiError."""

    def __init__(self, what: str) -> None:
        super().__init__(f"{what} is not available yet")


class LicensorForbidden(ApiError):
    """The API answered 403: these credentials may not read this licensor."""


class UnknownLicensor(ApiError):
    """A report's root answered 404: the licensor name is wrong (or the report not granted to it)."""


class SignedUrlRefused(ApiError):
    """The storage host refused every fresh signed URL the API gave for a file."""


class _StorageRefused(Exception):
    """The storage host refused a signed URL (`status`): the download asks the API for a fresh one."""

    def __init__(self, status: int) -> None:
        super().__init__(f"the storage host refused the signed URL ({status})")
        self.status = status


@dataclass(frozen=True)
class _SignedUrl:
    """Where a file request redirected: a credential until it expires, so never shown."""

    url: str = field(repr=False)


class InvalidListing(ApiError):
    """A listing was not a JSON array of `{"uri": ...}` or held a uri we refuse to follow."""


class UnsafeFileName(ApiError):
    """The server suggested a file name that tries to leave the target directory."""


@dataclass(frozen=True)
class RemoteFile:
    """One file of a report-day on the API; `name` is the file name used if the server gives none."""

    uri: str
    country: str | None
    name: str


@dataclass(frozen=True)
class DownloadedFile:
    """A file written to disk, with the size and sha256 of exactly the bytes written.

    `empty` says it holds no data (0 bytes, or a gzip of nothing): a day or country without
    streams, which must stay visible as such rather than pass for a broken download.
    """

    remote: RemoteFile
    path: Path
    name: str
    bytes: int
    sha256: str
    empty: bool = False


class BulkApiClient(ApiSession):
    """Lists and downloads Bulk API report files; use as `async with BulkApiClient(...) as client`."""

    def __init__(
        self,
        connection: Connection,
        *,
        retry: RetryPolicy | None = None,
        max_decompressed_bytes: int = DEFAULT_MAX_DECOMPRESSED_BYTES,
        url_renewals: int = DEFAULT_URL_RENEWALS,
        max_listing_bytes: int = DEFAULT_MAX_LISTING_BYTES,
        transport: httpx.AsyncBaseTransport | None = None,
        sleep: Sleep = asyncio.sleep,
        rng: Uniform | None = None,
    ) -> None:
        max_concurrency = connection.max_concurrency
        super().__init__(
            connection,
            retry=retry,
            max_connections=max_concurrency + 2,
            transport=transport,
            sleep=sleep,
            rng=rng,
        )
        self.max_decompressed_bytes = max_decompressed_bytes
        self.url_renewals = url_renewals
        self.max_listing_bytes = max_listing_bytes
        # Inflating is CPU work: more workers than cores would only take turns.
        self._workers = concurrent.futures.ThreadPoolExecutor(
            max_workers=min(max_concurrency, os.cpu_count() or 1), thread_name_prefix="bulk-download"
        )

    async def aclose(self) -> None:
        try:
            await super().aclose()
        finally:
            self._workers.shutdown(wait=False, cancel_futures=True)

    async def list_files(self, report: ReportSpec, licensor: str, day: date) -> list[RemoteFile]:
        """The files of `report` for `licensor` on `day`, found by following the listings' uris.

        Raises `NotAvailable` when the day is not published (404 or absent from a listing),
        `UnknownLicensor` when the report's root answers 404 and `LicensorForbidden` on a 403; an
        empty day listing is a day without data and gives an empty list.
        """
        safe_name(licensor, what="licensor")
        root = f"/{licensor}/enhanced/{report.api_name}"
        wanted = (day.year, day.month, day.day)
        what = f"{report.name} for {licensor} on {day:%Y-%m-%d}"
        uri = root
        for depth in range(3):  # year, month, day
            children = await self._listing(root, uri, depth, wanted, what)
            matches = [c for c, segments in children if _number(segments[depth]) == wanted[depth]]
            if not matches:
                raise NotAvailable(what)
            uri = matches[0]
        if not report.per_country:
            return [RemoteFile(uri=uri, country=None, name=_default_name(report, day, None))]
        children = await self._listing(root, uri, 3, wanted, what)
        files = [
            RemoteFile(uri=c, country=segments[3], name=_default_name(report, day, segments[3]))
            for c, segments in children
        ]
        return sorted(files, key=lambda f: f.country or "")

    async def download(self, file: RemoteFile, dest: Path, *, check_gzip: bool = True) -> DownloadedFile:
        """Stream `file` into the directory `dest`, verifying gzip integrity; retried from scratch.

        `check_gzip=False` defers the proof that the gzip is whole to the file's next reader (it is
        then inflated only to its first 4 MB of data, to tell an empty file); the caller must prove
        it (`sink.check_file`, or a full inflate of its own) before the file is archived.
        A redirect is followed here, not by httpx: to a signed URL, without our token, asking the
        API again (at most `url_renewals` times) when the storage host refuses it.
        """
        url = self._url(file.uri)
        refusals: list[int] = []

        async def receive(response: httpx.Response) -> DownloadedFile | _SignedUrl:
            status = response.status_code
            if status in REDIRECTS:
                return _signed_location(response, url)
            if status == 404:  # listed a moment ago: a passing inconsistency, worth another try
                raise RetryableError("status 404 Not Found (a file named in its listing)", status=404)
            _raise_for_status(response, "GET", url, file.uri, f"file {file.uri}")
            name = _file_name(response.headers.get("content-disposition"), file.name, url)
            return await self._write(response, file, dest, name, url, check_gzip)

        while True:
            got = await self.http.stream(
                "GET", url, receive, headers=_IDENTITY, tokens=self.tokens, follow_redirects=False
            )
            if isinstance(got, DownloadedFile):
                return got
            try:
                return await self._from_storage(got, file, dest, url, check_gzip)
            except _StorageRefused as exc:
                refusals.append(exc.status)
            if len(refusals) > self.url_renewals:
                raise SignedUrlRefused(
                    f"GET {url_path(url)}: the storage host refused {len(refusals)} fresh signed URLs "
                    f"(statuses {', '.join(map(str, refusals))}): check the machine's clock and that "
                    "nothing between us and the storage host adds or changes headers"
                )
            log.warning(
                "GET %s: the storage host refused the signed URL (%d); asking the API for a fresh one",
                url_path(url),
                refusals[-1],
            )

    async def _from_storage(
        self, signed: _SignedUrl, file: RemoteFile, dest: Path, api_url: str, check_gzip: bool
    ) -> DownloadedFile:
        """Download a signed URL: anonymous (the signature is the credential), storage 5xx retried."""

        async def receive(response: httpx.Response) -> DownloadedFile:
            status = response.status_code
            if status in STORAGE_REFUSALS:
                raise _StorageRefused(status)
            if status != 200:
                raise ApiStatusError("GET", api_url, status)
            name = _file_name(response.headers.get("content-disposition"), file.name, api_url)
            return await self._write(response, file, dest, name, api_url, check_gzip)

        return await self.http.stream(
            "GET",
            signed.url,
            receive,
            headers=_STORED_AS_IS,
            follow_redirects=False,
            anonymous=True,
            shown_as=api_url,
        )

    async def _write(
        self, response: httpx.Response, file: RemoteFile, dest: Path, name: str, url: str, check_gzip: bool
    ) -> DownloadedFile:
        tmp = dest / f".{uuid.uuid4().hex}.part"
        sink = Sink(tmp, self.gzip_check(url, whole=check_gzip))
        job: Job | None = None  # at most one in flight: the sink sees the bytes in order
        try:
            batch: list[bytes] = []
            batched = 0
            # Raw bytes: with `Content-Encoding: gzip` they are still the .gz file we keep. While a
            # worker handles one batch, the loop receives the next.
            async for piece in response.aiter_raw():
                batch.append(piece)
                batched += len(piece)
                if batched >= CHUNK_BYTES:
                    job = await self._then(job, sink.feed, batch)
                    batch, batched = [], 0
            if batch:
                job = await self._then(job, sink.feed, batch)
            job = await self._then(job, sink.finish)
            await asyncio.wrap_future(job)
            final = _place(tmp, dest, name, file.name, url)
        except BaseException:
            if job is not None:
                await settle(job)
            sink.discard()
            raise
        empty = sink.check.decompressed == 0
        log.info("downloaded %s (%s bytes%s)", url_path(url), f"{sink.size:,}", ", no data" if empty else "")
        return DownloadedFile(
            remote=file,
            path=final,
            name=final.name,
            bytes=sink.size,
            sha256=sink.digest.hexdigest(),
            empty=empty,
        )

    def gzip_check(self, url: str, *, whole: bool = True) -> GzipCheck:
        """The integrity check of a download from `url`, bounded by this client's cap."""
        return GzipCheck("GET", url, self.max_decompressed_bytes, whole=whole)

    def check_downloaded(self, file: RemoteFile, path: Path) -> None:
        """The deferred check of `file`, downloaded to `path` with `check_gzip=False`: raises what the
        download's own check would have (RetryableError: corrupt or truncated; DownloadTooLarge)."""
        check_file(path, self.gzip_check(self._url(file.uri)))

    async def _then(self, job: Job | None, work: Callable[..., None], *args: Any) -> Job:
        """Wait for `job` (raising its error), then start `work(*args)` on a worker thread."""
        if job is not None:
            await asyncio.wrap_future(job)
        return self._workers.submit(work, *args)

    async def _listing(
        self, root: str, uri: str, depth: int, wanted: tuple[int, int, int], what: str
    ) -> list[tuple[str, list[str]]]:
        """GET a listing; returns each child uri with its validated segments below `root`."""
        url = self._url(uri)
        where = f"listing GET {url_path(url)}"

        async def receive(response: httpx.Response) -> bytes:
            if depth == 0 and response.status_code == 404:
                raise UnknownLicensor(
                    f"unknown licensor {root.split('/')[1]!r} (404 at {root}): check SPOTIFY_LICENSORS "
                    "against your welcome email (or ask Spotify whether this report is granted to it)"
                )
            _raise_for_status(response, "GET", url, uri, what)
            return await _capped_body(response, self.max_listing_bytes, where)

        body = await self.http.stream("GET", url, receive, tokens=self.tokens)
        try:
            payload = json.loads(body)
        except ValueError:
            raise InvalidListing(f"{where} is not JSON") from None
        if not isinstance(payload, list):
            raise InvalidListing(f"{where} is not a JSON array")
        children = []
        for entry in payload:
            child = entry.get("uri") if isinstance(entry, dict) else None
            if not isinstance(child, str):
                raise InvalidListing(f"{where} has an entry without a string 'uri'")
            segments = _segments(child, root, where)
            if len(segments) != depth + 1 or tuple(map(_number, segments[:depth])) != wanted[:depth]:
                raise InvalidListing(f"{where} lists {child[:200]!r}, which is not a child of {uri!r}")
            children.append((child.rstrip("/"), segments))
        return list({c: (c, s) for c, s in children}.values())  # a uri listed twice is one child

    def _url(self, uri: str) -> str:
        return f"{self.base_url}{uri}"


async def _capped_body(response: httpx.Response, limit: int, where: str) -> bytes:
    """The whole body, refused as soon as it passes `limit` bytes (never held in memory past it)."""
    declared = response.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise InvalidListing(f"{where} is {int(declared):,} bytes, over the {limit:,}-byte cap for a listing")
    chunks, size = [], 0
    async for chunk in response.aiter_bytes():
        size += len(chunk)
        if size > limit:
            raise InvalidListing(f"{where} is over the {limit:,}-byte cap for a listing (a broken server?)")
        chunks.append(chunk)
    return b"".join(chunks)


def _segments(uri: str, root: str, where: str) -> list[str]:
    """The path segments of a listed uri below `root`, each a safe name, or `InvalidListing`."""
    if not uri.startswith(root + "/"):
        raise InvalidListing(f"{where} lists {uri[:200]!r}, which is outside {root + '/'!r}")
    segments = uri[len(root) + 1 :].removesuffix("/").split("/")
    for segment in segments:
        try:
            safe_name(segment, what="uri segment")
        except ValueError:
            raise InvalidListing(
                f"{where} lists {uri[:200]!r} with an unsafe segment {segment[:64]!r} (path traversal?)"
            ) from None
    return segments


def _number(segment: str) -> int | None:
    return int(segment) if _NUMBER.fullmatch(segment) else None


def _default_name(report: ReportSpec, day: date, country: str | None) -> str:
    suffix = f"_{country}" if country else ""
    return f"{report.name}_{day:%Y-%m-%d}{suffix}.json.gz"


def _raise_for_status(response: httpx.Response, method: str, url: str, uri: str, what: str) -> None:
    """Map the statuses that mean something to the Bulk API client's exceptions (`uri`: the path
    below the base URL, whose first segment is the licensor)."""
    status = response.status_code
    if status == 200:
        return
    if status == 401:
        raise TokenRejected(method, url)
    if status == 403:
        raise LicensorForbidden(
            f"client not allowed for licensor {uri.split('/')[1]!r} (403 at {uri}): check the licensor "
            "name and that these credentials were granted access to it"
        )
    if status == 404:
        raise NotAvailable(what)
    raise ApiStatusError(method, url, status)


def _signed_location(response: httpx.Response, url: str) -> _SignedUrl:
    """The redirect's target, resolved against the request; only http(s) is followed."""
    location = response.headers.get("location")
    target = response.url.join(location) if location else None
    if target is None or target.scheme not in ("http", "https"):
        raise ApiStatusError("GET", url, response.status_code)  # a redirect without a usable Location
    return _SignedUrl(str(target))


def _disposition_filename(value: str | None) -> str | None:
    if not value:
        return None
    message = email.message.Message()
    message["content-disposition"] = value
    name = message.get_filename()
    return name if isinstance(name, str) and name.strip() else None


def _file_name(disposition: str | None, fallback: str, url: str) -> str:
    """The archive file name: the server's (sanitized) when it gives one, always ending in `.gz`."""
    raw = _disposition_filename(disposition)
    if raw is None:
        return fallback
    if any(bad in raw for bad in ("/", "\\", "..", "\0")):
        raise UnsafeFileName(
            f"GET {url_path(url)}: the server suggested the file name {raw[:100]!r}, "
            "which tries to leave the archive directory"
        )
    name = re.sub(r"[^A-Za-z0-9_.-]+", "_", raw.strip()).lstrip("._-")
    if not name:
        return fallback
    if not name.endswith(".gz"):
        name += ".gz"
    if len(name) > 128:
        name = name[:125] + ".gz"
    return safe_name(name, what="file name")


def _place(tmp: Path, dest: Path, name: str, fallback: str, url: str) -> Path:
    """Rename the finished download to its name, never over another file of the same partition."""
    for candidate in dict.fromkeys((name, fallback)):
        final = dest / candidate
        if not final.exists():
            os.replace(tmp, final)
            return final
    raise UnsafeFileName(f"GET {url_path(url)}: another file of this partition is already named {name!r}")
