"""The archive on S3 (moto): originals as create-only objects, the manifest replaced by ETag swap."""

from __future__ import annotations

import hashlib
import json
from dataclasses import replace
from datetime import UTC, date, datetime

import pytest

from pipeline.ingest import archive_store
from pipeline.ingest.archive import MANIFEST_NAME, ArchivedFile, ArchivedPartition
from pipeline.ingest.archive_store import delete_before, mirror_partition
from pipeline.storage.object_store import (
    ensure_bucket,
    list_keys,
    put_once,
    read_with_etag,
    swap_if_unchanged,
)

DAY = date(2026, 6, 10)


def _partition(tmp_path, contents: dict[str, bytes]) -> ArchivedPartition:
    directory = tmp_path / "streams" / "licensor=acme" / "date=2026-06-10"
    directory.mkdir(parents=True, exist_ok=True)
    files = []
    for name, data in contents.items():
        (directory / name).write_bytes(data)
        digest = hashlib.sha256(data).hexdigest()
        files.append(
            ArchivedFile(directory / name, name, f"https://example.test/{name}", "SE", len(data), digest)
        )
    (directory / MANIFEST_NAME).write_text(
        json.dumps({"report": "streams", "files": [f.name for f in files]})
    )
    return ArchivedPartition("streams", "acme", DAY, directory, tuple(files), datetime.now(UTC))


def test_originals_are_written_once_and_the_manifest_names_them(tmp_path, moto_store):
    ensure_bucket("s3://archive-test/a", moto_store)
    first = _partition(tmp_path, {"streams_SE.json.gz": b"se-bytes", "streams_US.json.gz": b"us-bytes"})
    written, url = mirror_partition(first, "s3://archive-test/archive", moto_store)
    assert written == 2
    assert url == "s3://archive-test/archive/streams/licensor=acme/date=2026-06-10/_manifest.json"
    manifest = json.loads(read_with_etag(url, moto_store)[0])
    assert [o["sha256"] for o in manifest["objects"]] == [f.sha256 for f in first.files]

    again, _ = mirror_partition(first, "s3://archive-test/archive", moto_store)  # a re-run
    assert again == 0

    changed = _partition(tmp_path, {"streams_SE.json.gz": b"se-bytes-v2"})  # the API re-published the day
    written, _ = mirror_partition(changed, "s3://archive-test/archive", moto_store)
    assert written == 1
    assert len(json.loads(read_with_etag(url, moto_store)[0])["objects"]) == 1
    base = "s3://archive-test/archive/streams/licensor=acme/date=2026-06-10/objects"
    kept = read_with_etag(f"{base}/{first.files[0].sha256}/streams_SE.json.gz", moto_store)
    assert kept is not None and kept[0] == b"se-bytes"  # the earlier original is never overwritten


def test_conditional_puts_refuse_to_overwrite(moto_store):
    ensure_bucket("s3://cas-test/x", moto_store)
    url = "s3://cas-test/x/object"
    assert put_once(url, b"one", moto_store) is True
    assert put_once(url, b"two", moto_store) is False
    data, etag = read_with_etag(url, moto_store)
    assert data == b"one"
    assert swap_if_unchanged(url, b"three", etag, moto_store) is True
    assert swap_if_unchanged(url, b"four", etag, moto_store) is False  # a stale ETag loses
    assert read_with_etag(url, moto_store)[0] == b"three"
    assert swap_if_unchanged("s3://cas-test/x/new", b"n", None, moto_store) is True
    assert swap_if_unchanged("s3://cas-test/x/new", b"m", None, moto_store) is False


def test_retention_deletes_the_objects_of_old_days_only(tmp_path, moto_store):
    ensure_bucket("s3://archive-retain/a", moto_store)
    for day in ("2026-06-09", "2026-06-10"):
        old = _partition(tmp_path / day, {"streams_SE.json.gz": day.encode()})
        mirror_partition(replace(old, day=date.fromisoformat(day)), "s3://archive-retain/archive", moto_store)
    assert delete_before("s3://archive-retain/archive", DAY, moto_store) == 2  # the original + manifest
    assert all("date=2026-06-10/" in key for key in list_keys("s3://archive-retain/archive", moto_store))


def test_a_large_original_is_uploaded_in_parts_and_still_written_once(tmp_path, moto_store, monkeypatch):
    """Past the size, the file is streamed as a multipart upload (never read whole into memory)."""
    import pipeline.storage.object_store as object_store

    monkeypatch.setattr(object_store, "MULTIPART_BYTES", 1 << 20)
    big = hashlib.sha256(b"seed").digest() * (3 * (1 << 20) // 32 + 7)  # ~3 MB
    partition = _partition(tmp_path, {"streams_US.json.gz": big})
    read_whole = []
    original = type(partition.files[0].path).read_bytes
    monkeypatch.setattr(
        type(partition.files[0].path), "read_bytes", lambda p: read_whole.append(p) or original(p)
    )
    ensure_bucket("s3://archive-test/a", moto_store)
    written, _url = mirror_partition(partition, "s3://archive-test/big", moto_store)
    assert written == 1 and partition.files[0].path not in read_whole
    base = "s3://archive-test/big/streams/licensor=acme/date=2026-06-10/objects"
    stored = read_with_etag(f"{base}/{partition.files[0].sha256}/streams_US.json.gz", moto_store)
    assert stored is not None and stored[0] == big
    assert "-" in stored[1]  # a multipart ETag (md5 of the parts' md5s, dash, part count)
    again, _ = mirror_partition(partition, "s3://archive-test/big", moto_store)
    assert again == 0


def test_a_store_without_etags_is_named_not_reported_as_racing_writers(tmp_path, moto_store, monkeypatch):
    """A store (or a proxy before it) that drops the ETag header: the real reads, minus the ETag."""
    ensure_bucket("s3://archive-noetag/a", moto_store)
    first = _partition(tmp_path, {"streams_SE.json.gz": b"se-bytes"})
    mirror_partition(first, "s3://archive-noetag/archive", moto_store)  # creating needs no ETag

    def without_etag(url, store):
        found = read_with_etag(url, store)
        return None if found is None else (found[0], "")

    monkeypatch.setattr(archive_store, "read_with_etag", without_etag)
    changed = _partition(tmp_path, {"streams_SE.json.gz": b"se-bytes-v2"})
    with pytest.raises(archive_store.NoETag, match="sent no ETag") as info:
        mirror_partition(changed, "s3://archive-noetag/archive", moto_store)
    assert "raced" not in str(info.value)
    url = "s3://archive-noetag/archive/streams/licensor=acme/date=2026-06-10/_manifest.json"
    standing = json.loads(read_with_etag(url, moto_store)[0])["objects"]
    assert [o["sha256"] for o in standing] == [first.files[0].sha256]  # the previous manifest stands
