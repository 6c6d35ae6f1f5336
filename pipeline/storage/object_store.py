"""S3-compatible object storage: pyarrow's S3 filesystem for the lake, obstore for conditional puts.

pyarrow ships an S3 filesystem (AWS SDK for C++), and pyiceberg's default FileIO is built on it, so
the lake needs no second S3 stack for its tables. The archive's write-once objects need what pyarrow
cannot send, conditional puts (If-None-Match: create-only, If-Match: ETag compare-and-swap), hence
obstore for those few calls. Every call has the settings' connect and request timeout; the
credentials go to the client only, never to a log or a repr.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlparse

if TYPE_CHECKING:  # imported where used: the settings are read by every command, even `--help`
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
    import pyarrow.fs as pafs

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
    import pyarrow.fs as pafs

    fs = s3_filesystem(store)
    if fs.get_file_info(where.bucket).type == pafs.FileType.NotFound:
        fs.create_dir(where.bucket)


def _object_store(url: str, store: ObjectStoreSettings) -> tuple[Any, str]:
    """An obstore store for the URL's bucket (or local root) and the key within it."""
    from obstore.store import LocalStore, S3Store

    where = StoreUrl.parse(url)
    if not where.is_s3:
        path = Path(where.prefix)
        path.parent.mkdir(parents=True, exist_ok=True)
        return LocalStore(str(path.parent)), path.name
    timeout = f"{int(store.timeout)}s"
    options: dict[str, Any] = {"timeout": timeout, "connect_timeout": timeout}
    config: dict[str, Any] = {"region": store.region, "virtual_hosted_style_request": False}
    if store.endpoint:
        config["endpoint"] = store.endpoint
        options["allow_http"] = store.endpoint.startswith("http://")
    if store.access_key_id:
        config |= {"access_key_id": store.access_key_id, "secret_access_key": store.secret_access_key}
    if store.session_token:
        config["session_token"] = store.session_token
    return S3Store(where.bucket, client_options=options, **config), where.prefix


def put_once(url: str, data: bytes, store: ObjectStoreSettings) -> bool:
    """Create the object only if absent (a conditional put); False when it already existed.

    For write-once content (keys that name their content, such as a checksum) an existing object
    is the same bytes, so a re-run or a racing writer loses nothing.
    """
    import obstore
    from obstore.exceptions import AlreadyExistsError

    target, key = _object_store(url, store)
    try:
        obstore.put(target, key, data, mode="create", use_multipart=False)
    except AlreadyExistsError:
        return False
    return True


MULTIPART_BYTES = 16 << 20  # files larger than this are uploaded in parts, streamed from disk
PART_BYTES = 8 << 20


def put_file_once(url: str, path: Path, store: ObjectStoreSettings) -> bool:
    """`put_once` for a file on disk, with memory bounded whatever its size; False if it existed.

    A small file is one conditional put. A larger one is streamed from disk as a multipart upload
    (parts of `PART_BYTES`), which object stores complete atomically but cannot make conditional:
    so the object is looked up first, and only write-once content whose key names it (a checksum)
    may come here, where a racing writer at worst uploads the same bytes again.
    """
    import obstore
    from obstore.exceptions import NotFoundError

    if path.stat().st_size <= MULTIPART_BYTES:
        return put_once(url, path.read_bytes(), store)
    target, key = _object_store(url, store)
    try:
        obstore.head(target, key)
        return False
    except (NotFoundError, FileNotFoundError):  # obstore raises either, by store and version
        pass
    obstore.put(target, key, path, use_multipart=True, chunk_size=PART_BYTES, max_concurrency=4)
    return True


def read_with_etag(url: str, store: ObjectStoreSettings) -> tuple[bytes, str] | None:
    """The object's bytes and ETag, or None when absent."""
    import obstore
    from obstore.exceptions import NotFoundError

    target, key = _object_store(url, store)
    try:
        result = obstore.get(target, key)
    except (NotFoundError, FileNotFoundError):
        return None
    return bytes(result.bytes()), str(result.meta.get("e_tag") or "")


def swap_if_unchanged(url: str, data: bytes, etag: str | None, store: ObjectStoreSettings) -> bool:
    """Replace the object only if its ETag is still `etag` (create it if `etag` is None).

    False when another writer got there first: read again and retry (compare-and-swap).
    """
    import obstore
    from obstore.exceptions import AlreadyExistsError, PreconditionError

    target, key = _object_store(url, store)
    mode: Any = "create" if etag is None else {"e_tag": etag}
    try:
        obstore.put(target, key, data, mode=mode, use_multipart=False)
    except (AlreadyExistsError, PreconditionError):
        return False
    return True


def list_keys(url: str, store: ObjectStoreSettings) -> list[str]:
    """Every object key under `url` (an s3:// prefix), relative to its bucket."""
    import obstore

    target, prefix = _object_store(url, store)
    return [str(meta["path"]) for batch in obstore.list(target, prefix=prefix or None) for meta in batch]


def delete_keys(url: str, keys: list[str], store: ObjectStoreSettings) -> None:
    """Delete the objects `keys` (bucket-relative, as `list_keys` gives them) of `url`'s bucket."""
    import obstore

    target, _ = _object_store(url, store)
    if keys:
        obstore.delete(target, keys)


def duckdb_s3(con: object, store: ObjectStoreSettings) -> None:
    """Let DuckDB connection `con` read `s3://` files through pyarrow's S3 client (DuckDB's own
    httpfs extension is downloaded on first use, which an offline machine cannot do)."""
    from fsspec.implementations.arrow import ArrowFSWrapper

    class _S3(ArrowFSWrapper):  # type: ignore[misc]
        protocol = "s3"

        def _strip_protocol(self, path: str) -> str:  # type: ignore[override]
            return path.removeprefix("s3://")

    con.register_filesystem(_S3(s3_filesystem(store)))  # type: ignore[attr-defined]
