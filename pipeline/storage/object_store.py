"""S3-compatible object storage, reached through the one S3 client already in the wheel: pyarrow's.

pyarrow ships an S3 filesystem (AWS SDK for C++), and pyiceberg's default FileIO is built on it, so
the lake needs no second S3 stack. Every call has the settings' connect and request timeout; the
credentials go to the client only, never to a log or a repr.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from urllib.parse import urlparse

import pyarrow.fs as pafs


@dataclass(frozen=True)
class ObjectStoreSettings:
    """An S3-compatible store, from the standard AWS_* variables; secrets never shown in `repr`.

    `endpoint` empty means AWS itself; set it for SeaweedFS, MinIO or moto (`http://127.0.0.1:8333`).
    """

    endpoint: str = ""
    region: str = "us-east-1"
    access_key_id: str = field(default="", repr=False)
    secret_access_key: str = field(default="", repr=False)
    session_token: str = field(default="", repr=False)
    timeout: float = 30.0  # connect and request timeout of every call, seconds


@dataclass(frozen=True)
class StoreUrl:
    """`s3://bucket/prefix` split into its parts (a local path has scheme "")."""

    scheme: str
    bucket: str
    prefix: str

    @classmethod
    def parse(cls, url: str) -> StoreUrl:
        parsed = urlparse(url)
        if parsed.scheme in ("s3", "s3a"):
            if not parsed.netloc:
                raise ValueError(f"{url!r} names no bucket: use s3://bucket/prefix")
            return cls("s3", parsed.netloc, parsed.path.strip("/"))
        if parsed.scheme in ("", "file"):
            return cls("", "", parsed.path if parsed.scheme else url)
        raise ValueError(f"{url!r}: only s3:// URLs and local paths are supported")

    @property
    def is_s3(self) -> bool:
        return self.scheme == "s3"

    def path_for_pyarrow(self) -> str:
        """The location as pyarrow's S3 filesystem names it: `bucket/prefix`."""
        return f"{self.bucket}/{self.prefix}".rstrip("/")


def fileio_properties(store: ObjectStoreSettings) -> dict[str, str]:
    """pyiceberg FileIO properties for `store` (endpoint, region, credentials, timeouts)."""
    props = {
        "s3.region": store.region,
        "s3.connect-timeout": str(store.timeout),
        "s3.request-timeout": str(store.timeout),
    }
    if store.endpoint:
        props["s3.endpoint"] = store.endpoint
        props["s3.force-virtual-addressing"] = "false"  # S3-compatible servers want path-style
    if store.access_key_id:
        props["s3.access-key-id"] = store.access_key_id
        props["s3.secret-access-key"] = store.secret_access_key
    if store.session_token:
        props["s3.session-token"] = store.session_token
    return props


def s3_filesystem(store: ObjectStoreSettings) -> pafs.S3FileSystem:
    """pyarrow's S3 filesystem for `store`, with its timeouts."""
    endpoint = urlparse(store.endpoint) if store.endpoint else None
    return pafs.S3FileSystem(
        access_key=store.access_key_id or None,
        secret_key=store.secret_access_key or None,
        session_token=store.session_token or None,
        region=store.region,
        endpoint_override=endpoint.netloc if endpoint else None,
        scheme=endpoint.scheme if endpoint else "https",
        connect_timeout=store.timeout,
        request_timeout=store.timeout,
        force_virtual_addressing=False,
        allow_bucket_creation=True,
    )


def ensure_bucket(url: str, store: ObjectStoreSettings) -> None:
    """Create the bucket of an s3:// URL if it does not exist (no-op for a local path)."""
    where = StoreUrl.parse(url)
    if not where.is_s3:
        return
    fs = s3_filesystem(store)
    if fs.get_file_info(where.bucket).type == pafs.FileType.NotFound:
        fs.create_dir(where.bucket)
