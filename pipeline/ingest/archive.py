"""The archive: every original file of a report-day, kept as downloaded, with a sha256 manifest.

A partition is downloaded into a staging directory and published with one atomic swap, so readers
(and a re-run after a crash) see either the previous complete partition or the new one, never a mix.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path

from pipeline.clients.bulk_api import BulkApiClient, DownloadedFile, RemoteFile
from pipeline.layout import Layout, safe_name
from pipeline.reports import ReportSpec
from pipeline.storage.atomic import atomic_write_bytes, exclusive_lock, publish_dir, staging_dir

MANIFEST_NAME = "_manifest.json"
MANIFEST_VERSION = 1
Progress = Callable[[int, int, str], None]  # (files done, files total, name of the file just done)


class ManifestError(ValueError):
    """A manifest that cannot be read or does not describe a partition."""


@dataclass(frozen=True)
class ArchivedFile:
    """One archived original file and the checksum it was downloaded with."""

    path: Path
    name: str
    uri: str
    country: str | None
    bytes: int
    sha256: str
    empty: bool = False  # no data in it (0 bytes or a gzip of nothing)


@dataclass(frozen=True)
class ArchivedPartition:
    """A published archive partition: one report for one licensor and day."""

    report: str
    licensor: str
    day: date
    directory: Path
    files: tuple[ArchivedFile, ...]
    fetched_at: datetime

    @property
    def total_bytes(self) -> int:
        return sum(f.bytes for f in self.files)

    @property
    def empty_files(self) -> tuple[str, ...]:
        """Names of the files that hold no data: shown per file, so "no data" is never silent."""
        return tuple(f.name for f in self.files if f.empty)


async def fetch_partition(
    client: BulkApiClient,
    layout: Layout,
    report: ReportSpec,
    licensor: str,
    day: date,
    *,
    on_progress: Progress | None = None,
) -> ArchivedPartition:
    """Download every file of the report-day and publish them, with a manifest, as one partition.

    Raises `NotAvailable` (nothing touched) when the day is not published; any failed file leaves the
    previous partition as it was. An empty day publishes a partition holding only the manifest.
    """
    async with stage_partition(client, layout, report, licensor, day, on_progress=on_progress) as staged:
        staged.publish()
    return staged.partition


class StagedPartition:
    """A report-day's files downloaded into a private staging directory, not yet archived.

    `partition` describes them as they will be once published (their archive paths); `staged` maps
    each archive path to where the file is until then. Downloaded with the gzip check deferred, the
    files must be proven whole (read to their end by a full inflate, or `check`) before `publish`.
    """

    def __init__(
        self,
        client: BulkApiClient,
        layout: Layout,
        report: ReportSpec,
        partition: ArchivedPartition,
        build: Path,
    ) -> None:
        self.client, self.layout, self.report = client, layout, report
        self.partition, self.build = partition, build
        self.staged = {f.path: build / f.name for f in partition.files}
        self.published = False

    def check(self) -> None:
        """The download's own gzip check of every staged file (a deferred check that was not done)."""
        for f in self.partition.files:
            remote = RemoteFile(f.uri, f.country, f.name)
            self.client.check_downloaded(remote, self.staged[f.path])

    def publish(self) -> None:
        """Write the manifest and swap the partition in atomically (once)."""
        if self.published:
            return
        partition = self.partition
        atomic_write_bytes(self.build / MANIFEST_NAME, _manifest_json(partition, self.report).encode())
        # No await while the lock is held: the swap is quick and never interleaves with a download.
        with exclusive_lock(
            self.layout.lock_path(f"archive-{partition.report}", partition.licensor, partition.day)
        ):
            publish_dir(self.build, partition.directory, staging_root=self.layout.staging_root)
        self.published = True


@contextlib.asynccontextmanager
async def stage_partition(
    client: BulkApiClient,
    layout: Layout,
    report: ReportSpec,
    licensor: str,
    day: date,
    *,
    on_progress: Progress | None = None,
    check_gzip: bool = True,
) -> AsyncIterator[StagedPartition]:
    """Download every file of the report-day into staging; the directory goes when the block ends,
    unless `publish` moved it into the archive. `check_gzip=False`: see `StagedPartition`."""
    remote = await client.list_files(report, licensor, day)
    final = layout.archive_partition(report.name, licensor, day)
    with staging_dir(layout.staging_root) as build:
        downloaded = await _download_all(client, remote, build, on_progress, check_gzip)
        files = tuple(
            sorted(
                (
                    ArchivedFile(
                        final / d.name, d.name, d.remote.uri, d.remote.country, d.bytes, d.sha256, d.empty
                    )
                    for d in downloaded
                ),
                key=lambda f: f.name,
            )
        )
        partition = ArchivedPartition(report.name, licensor, day, final, files, datetime.now(UTC))
        yield StagedPartition(client, layout, report, partition, build)


async def _download_all(
    client: BulkApiClient,
    remote: list[RemoteFile],
    build: Path,
    on_progress: Progress | None,
    check_gzip: bool,
) -> list[DownloadedFile]:
    """Download concurrently (at most `client.max_concurrency`); the first failure cancels the rest."""
    gate = asyncio.Semaphore(client.max_concurrency)
    done = 0

    async def one(file: RemoteFile) -> DownloadedFile:
        nonlocal done
        async with gate:
            result = await client.download(file, build, check_gzip=check_gzip)
        done += 1
        if on_progress is not None:
            on_progress(done, len(remote), result.name)
        return result

    tasks = [asyncio.create_task(one(f)) for f in remote]
    try:
        return list(await asyncio.gather(*tasks))
    except BaseException:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)  # nothing may write after cleanup
        raise


def _manifest_json(partition: ArchivedPartition, report: ReportSpec) -> str:
    """What was fetched, from where (the API uri, never a signed URL), with checksums; never
    credentials, tokens or headers."""
    document = {
        "manifest_version": MANIFEST_VERSION,
        "report": partition.report,
        "api_report": report.api_name,
        "licensor": partition.licensor,
        "date": partition.day.isoformat(),
        "fetched_at": partition.fetched_at.isoformat().replace("+00:00", "Z"),
        "total_bytes": partition.total_bytes,
        "files": [
            {
                "name": f.name,
                "uri": f.uri,
                "country": f.country,
                "bytes": f.bytes,
                "sha256": f.sha256,
                "empty": f.empty,
            }
            for f in partition.files
        ],
    }
    return json.dumps(document, indent=2) + "\n"


def read_manifest(path: Path) -> ArchivedPartition:
    """Read a partition's manifest (`path` is the partition directory or the manifest itself)."""
    manifest = path / MANIFEST_NAME if path.is_dir() else path
    directory = manifest.parent
    try:
        doc = json.loads(manifest.read_text("utf-8"))
        files = tuple(
            ArchivedFile(
                path=directory / safe_name(str(f["name"]), what="archived file name"),
                name=str(f["name"]),
                uri=str(f["uri"]),
                country=None if f.get("country") is None else str(f["country"]),
                bytes=int(f["bytes"]),
                sha256=str(f["sha256"]),
                empty=f.get("empty") is True,
            )
            for f in doc["files"]
        )
        return ArchivedPartition(
            report=str(doc["report"]),
            licensor=str(doc["licensor"]),
            day=date.fromisoformat(doc["date"]),
            directory=directory,
            files=files,
            fetched_at=datetime.fromisoformat(doc["fetched_at"]),
        )
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise ManifestError(f"{manifest} is not a valid archive manifest: {exc}") from exc


def verify_manifest(directory: Path) -> list[str]:
    """Problems found comparing a partition with its manifest: missing, extra or changed files."""
    try:
        partition = read_manifest(directory / MANIFEST_NAME)
    except FileNotFoundError:
        return [f"{directory}: no {MANIFEST_NAME}"]
    except ManifestError as exc:
        return [str(exc)]
    problems = []
    for f in partition.files:
        if not f.path.is_file():
            problems.append(f"missing file {f.name}")
            continue
        size = f.path.stat().st_size
        if size != f.bytes:
            problems.append(f"size mismatch for {f.name}: {size} bytes on disk, {f.bytes} in the manifest")
        elif _sha256(f.path) != f.sha256:
            problems.append(f"sha256 mismatch for {f.name}")
    listed = {f.name for f in partition.files} | {MANIFEST_NAME}
    extra = sorted(p.name for p in directory.iterdir() if p.name not in listed)
    problems.extend(f"extra file {name} is not in the manifest" for name in extra)
    return problems


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()
