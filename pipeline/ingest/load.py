"""One report for one licensor and day: fetch to the archive, then land in the lake.

Plain Python (no Dagster), so the CLI, the assets and the tests share one code path.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import date

from pipeline.clients.bulk_api import (
    BulkApiClient,
    DownloadTooLarge,
    InvalidListing,
    LicensorForbidden,
    NotAvailable,
    SignedUrlRefused,
    UnknownLicensor,
    UnsafeFileName,
)
from pipeline.clients.http import ApiStatusError, RetryableError, WaitTooLong
from pipeline.clients.session import AuthError
from pipeline.ingest.archive import ArchivedPartition, ManifestError, fetch_partition, stage_partition
from pipeline.ingest.landing import LandingError, LandingOptions, LandingResult, land_partition
from pipeline.ingest.landing.memory import return_freed_memory
from pipeline.ingest.landing.names import load_field_map
from pipeline.ingest.ledger import LoadRecord, now, write_record
from pipeline.layout import Layout, UnsafeName
from pipeline.reports import ReportSpec
from pipeline.storage.atomic import exclusive_lock_async

Progress = Callable[[str], None]

# Errors that another attempt cannot fix: retrying them only delays the clear message. A long wait
# (a quota ban) is one too: a step retry minutes later would only meet the same ban.
PERMANENT_ERRORS: tuple[type[Exception], ...] = (
    AuthError,
    LicensorForbidden,
    UnknownLicensor,
    SignedUrlRefused,
    WaitTooLong,
    InvalidListing,
    UnsafeFileName,
    DownloadTooLarge,
    ApiStatusError,
    LandingError,
    ManifestError,
    UnsafeName,
)


def throttled(say: Progress, *, every_seconds: float = 5.0) -> Progress:
    """Pass on at most one message per interval: per-file progress on a 60-file day would otherwise
    be 60 events in the Dagster event log (each a database write) for no reader's benefit."""
    last = -every_seconds

    def emit(message: str) -> None:
        nonlocal last
        now = time.monotonic()
        if now - last >= every_seconds:
            last = now
            say(message)

    return emit


class LoadFailed(Exception):
    """A report load failed; the message names report, licensor, date and cause.

    `permanent` tells orchestration not to retry (bad credentials, too many rejects, hostile input,
    long waits); `resume_at` is the UTC time Spotify asked us to wait until, if it asked.
    """

    def __init__(self, report: ReportSpec, licensor: str, day: date, cause: BaseException) -> None:
        super().__init__(f"{report.name} for {licensor} on {day:%Y-%m-%d} failed: {cause}")
        self.permanent = isinstance(cause, PERMANENT_ERRORS)
        # Spotify asked us to stop until then (a quota ban): every further request meets the same wait.
        self.resume_at = cause.resume_at if isinstance(cause, WaitTooLong) else None


@dataclass(frozen=True)
class LoadOutcome:
    """What a load did: `landing` is None when the day is not available on the API yet."""

    report: ReportSpec
    licensor: str
    day: date
    archive: ArchivedPartition | None
    landing: LandingResult | None
    seconds: float
    not_available_reason: str | None = None

    @property
    def available(self) -> bool:
        return self.landing is not None

    @property
    def empty_files(self) -> tuple[str, ...]:
        """The archived files that held no data (see `ArchivedPartition.empty_files`)."""
        return self.archive.empty_files if self.archive else ()


async def load_report(
    client: BulkApiClient,
    layout: Layout,
    report: ReportSpec,
    licensor: str,
    day: date,
    *,
    max_reject_share: float = 0.01,
    progress: Progress | None = None,
    options: LandingOptions | None = None,
) -> LoadOutcome:
    """Download the report's files for the day into the archive, then land them as Parquet.

    Loads of one report-day take turns (a lock file): each lands exactly the archive it fetched,
    so two concurrent loads leave one complete version, never a lake built from two archives.
    """
    started = time.monotonic()
    say = progress or (lambda _msg: None)
    opts = options or LandingOptions()
    return_freed_memory()  # before the download's threads: they share landing's two heaps
    try:
        opts.privacy.check()  # a missing key fails before any download
        load_field_map(opts.field_map)  # and so does a bad field map
        async with exclusive_lock_async(layout.lock_path(f"load-{report.name}", licensor, day)):
            archive, landing = await _fetch_and_land(
                client,
                layout,
                report,
                licensor,
                day,
                max_reject_share=max_reject_share,
                progress=say,
                options=opts,
            )
    except NotAvailable as exc:
        write_record(layout, LoadRecord(report.name, licensor, day, "not_available", now(), str(exc)))
        return LoadOutcome(report, licensor, day, None, None, time.monotonic() - started, str(exc))
    except Exception as exc:
        write_record(layout, LoadRecord(report.name, licensor, day, "failed", now(), str(exc)))
        raise LoadFailed(report, licensor, day, exc) from exc
    rows = landing.tables[0].rows if landing.tables else 0
    write_record(
        layout,
        LoadRecord(
            report.name, licensor, day, "loaded", now(), "", rows, landing.lines_total, landing.rejected
        ),
    )
    return LoadOutcome(report, licensor, day, archive, landing, time.monotonic() - started)


async def _fetch_and_land(
    client: BulkApiClient,
    layout: Layout,
    report: ReportSpec,
    licensor: str,
    day: date,
    *,
    max_reject_share: float,
    progress: Progress,
    options: LandingOptions,
) -> tuple[ArchivedPartition, LandingResult]:
    """Download the day into staging, land it from there, and archive it once landing has read it.

    Every file is inflated once, by the landing: the download leaves the gzip check to it, and the
    files are archived only after landing has read each to its end (every stream whole, every
    trailer's CRC and length checked), before any reject or table is published, so the archive
    still never holds a truncated or corrupt download. If landing fails before that point, the
    download's own check runs on the staged files: a bad file is downloaded again, checked (with
    the download's retries), and the day landed from the archive as before; otherwise the files
    are archived anyway and the landing's error raised, as when they were archived first.
    """
    chatter = throttled(progress)  # per-file messages, for downloads and landing alike

    def downloaded(done: int, total: int, name: str) -> None:
        chatter(f"downloaded {done}/{total} {name}")

    # The download's cap on decompressed bytes, enforced by the inflate that now checks the files.
    cap = min(options.max_decompressed_bytes, client.max_decompressed_bytes)
    opts = replace(options, max_decompressed_bytes=cap)
    land = functools.partial(
        land_partition,
        layout,
        report,
        licensor,
        day,
        max_reject_share=max_reject_share,
        on_progress=chatter,
        options=opts,
    )
    async with stage_partition(
        client, layout, report, licensor, day, on_progress=downloaded, check_gzip=False
    ) as staged:

        def archive() -> None:
            staged.publish()
            _say_archived(progress, staged.partition)

        partition = staged.partition
        progress(
            f"staged {len(partition.files)} file(s), {partition.total_bytes:,} bytes; landing, then archiving"
        )
        try:
            paths = [f.path for f in partition.files]
            return partition, land(paths, read_from=staged.staged, after_reading=archive)
        except Exception:
            if staged.published:
                raise
            try:
                staged.check()
            except RetryableError as exc:
                progress(f"a downloaded file failed its gzip check ({exc}); downloading the day again")
            else:
                archive()
                raise
    partition = await fetch_partition(client, layout, report, licensor, day, on_progress=downloaded)
    _say_archived(progress, partition)
    return partition, land([f.path for f in partition.files])


def _say_archived(progress: Progress, partition: ArchivedPartition) -> None:
    empty = partition.empty_files
    progress(
        f"archived {len(partition.files)} file(s), {partition.total_bytes:,} bytes"
        + (f"; {len(empty)} without data: {', '.join(empty)}" if empty else "")
    )
