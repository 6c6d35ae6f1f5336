"""The archive on object storage: originals as write-once objects, the manifest swapped by ETag.

On one machine the archive is a directory published by an atomic swap. An object store has no
rename, so each original file becomes an object keyed by its sha256 (created only if absent: a
conditional put, so a re-run or a racing worker never overwrites an original; a large one is
streamed from disk in a multipart upload, never read whole into memory), and the partition's
manifest, which names those objects, is replaced by compare-and-swap on its ETag: readers see the
previous complete manifest or the new one.
"""

from __future__ import annotations

import json
import re
from datetime import date

from pipeline.ingest.archive import MANIFEST_NAME, ArchivedPartition
from pipeline.layout import safe_name
from pipeline.storage.object_store import (
    ObjectStoreSettings,
    delete_keys,
    list_keys,
    put_file_once,
    read_with_etag,
    swap_if_unchanged,
)

MAX_SWAP_ATTEMPTS = 10
_DATE_KEY = re.compile(r"/date=(\d{4}-\d{2}-\d{2})/")


class NoETag(RuntimeError):
    """The store answered a read without an ETag, so the manifest cannot be compare-and-swapped.

    Swapping on an empty ETag always loses, which would read as ten writers racing; overwriting
    without a condition could drop a concurrent writer's manifest. Say what is wrong instead.
    """

    def __init__(self, url: str) -> None:
        super().__init__(
            f"{url}: the object store sent no ETag, so the archive cannot replace this manifest safely "
            "(compare-and-swap on the ETag); point the archive at a store that returns ETags and "
            "honours If-Match (AWS S3, SeaweedFS, MinIO, Ceph RGW)"
        )


def partition_url(archive_url: str, report: str, licensor: str, day: str) -> str:
    return (
        f"{archive_url.rstrip('/')}/{safe_name(report, what='report')}"
        f"/licensor={safe_name(licensor, what='licensor')}/date={day}"
    )


def mirror_partition(
    partition: ArchivedPartition, archive_url: str, store: ObjectStoreSettings
) -> tuple[int, str]:
    """Copy a published local archive partition to `archive_url`; (objects newly written, manifest URL)."""
    base = partition_url(archive_url, partition.report, partition.licensor, f"{partition.day:%Y-%m-%d}")
    written = 0
    objects = []
    for file in partition.files:
        key = f"objects/{file.sha256}/{safe_name(file.name, what='archive file')}"
        written += put_file_once(f"{base}/{key}", file.path, store)  # multipart past a size
        objects.append({"name": file.name, "object": key, "sha256": file.sha256, "bytes": file.bytes})
    local = json.loads((partition.directory / MANIFEST_NAME).read_text())
    manifest = json.dumps({**local, "objects": objects}, indent=2, sort_keys=True).encode()
    url = f"{base}/{MANIFEST_NAME}"
    for _ in range(MAX_SWAP_ATTEMPTS):
        current = read_with_etag(url, store)
        if current is not None and current[0] == manifest:
            break
        if current is not None and not current[1]:
            raise NoETag(url)
        if swap_if_unchanged(url, manifest, current[1] if current else None, store):
            break
    else:
        raise RuntimeError(f"could not replace {url}: {MAX_SWAP_ATTEMPTS} writers raced it")
    return written, url


def delete_before(archive_url: str, cutoff: date, store: ObjectStoreSettings) -> int:
    """Retention of the archive's objects: delete every object of a partition dated before `cutoff`
    (the originals hold personal data as the API sent it); how many objects went."""
    doomed = [
        key
        for key in list_keys(archive_url, store)
        if (found := _DATE_KEY.search(key)) and date.fromisoformat(found.group(1)) < cutoff
    ]
    delete_keys(archive_url, doomed, store)
    return len(doomed)
