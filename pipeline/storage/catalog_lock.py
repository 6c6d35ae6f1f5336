"""The lake's commit lock, held in the Iceberg catalog's own database: visible to every machine
that commits through that catalog.

A licensor-day load commits its tables one by one (one Iceberg commit each); a build pins every
lake table's current snapshot. Both hold this lock, so a build never pins half a load. A lock file in
the data directory only orders processes of one machine; the catalog is what every loader and
builder shares, so the lock lives there: a PostgreSQL advisory lock on the catalog's database (held
by the session, so a killed holder's lock goes with its connection), or, for the local SQLite
catalog, a file lock beside the catalog's file (SQLite is one machine's by construction).

A second lock says a build is reading the lake: every build holds it shared from before it pins the
lake's snapshots until it has published (and expired what it may), and a load that would expire the
snapshots it superseded takes it exclusively without waiting, so it never expires a snapshot a
running build pinned: while a build runs, loads leave expiry to it.
"""

from __future__ import annotations

import contextlib
import hashlib
import threading
from collections.abc import Iterator
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.engine import make_url
from sqlalchemy.pool import NullPool

from pipeline.storage.atomic import file_lock

COMMIT_LOCK = "spotify-bulk:lake-commit"
BUILD_LOCK = "spotify-bulk:build-reading"
CONNECT_TIMEOUT_SECONDS = 10
LOCK_SUFFIX = ".commit-lock"
BUILD_LOCK_SUFFIX = ".build-lock"
_IN_MEMORY = threading.Lock()  # an in-memory SQLite catalog is one process's: a thread lock suffices


class UnsupportedCatalog(ValueError):
    """A catalog URI that is neither SQLite nor PostgreSQL: there is no lock to hold in it."""


def pg_lock_key(name: str) -> int:
    """pg_advisory_lock takes a bigint: a fixed key derived from the lock's name (advisory keys are
    per database, so it only meets other holders of this catalog's lock)."""
    return int.from_bytes(hashlib.sha256(name.encode()).digest()[:8], "big", signed=True)


def lock_file(catalog_uri: str, suffix: str = LOCK_SUFFIX) -> Path | None:
    """The file lock beside a SQLite catalog's file (None for an in-memory catalog)."""
    database = make_url(catalog_uri).database
    if not database or database == ":memory:":
        return None
    path = Path(database)
    return path.with_name(path.name + suffix)


@contextlib.contextmanager
def _postgres_lock(catalog_uri: str, name: str, *, shared: bool, wait: bool) -> Iterator[bool]:
    """A session-level advisory lock on the catalog's database, released on exit or when the
    holder's connection drops (a killed process never leaves it held); whether it is held."""
    engine = sa.create_engine(
        catalog_uri, poolclass=NullPool, connect_args={"connect_timeout": CONNECT_TIMEOUT_SECONDS}
    )
    kind = "_shared" if shared else ""
    key = {"key": pg_lock_key(name)}
    try:
        with engine.connect() as connection:
            if wait:
                connection.execute(sa.text(f"SELECT pg_advisory_lock{kind}(:key)"), key)
                held = True
            else:
                tried = connection.execute(sa.text(f"SELECT pg_try_advisory_lock{kind}(:key)"), key)
                held = bool(tried.scalar())
            connection.commit()  # the lock is the session's, not the transaction's
            try:
                yield held
            finally:
                if held:
                    connection.execute(sa.text(f"SELECT pg_advisory_unlock{kind}(:key)"), key)
                    connection.commit()
    finally:
        engine.dispose()


@contextlib.contextmanager
def _catalog_lock(catalog_uri: str, name: str, suffix: str, *, shared: bool, wait: bool) -> Iterator[bool]:
    backend = make_url(catalog_uri).get_backend_name()
    if backend == "postgresql":
        with _postgres_lock(catalog_uri, name, shared=shared, wait=wait) as held:
            yield held
    elif backend == "sqlite":
        path = lock_file(catalog_uri, suffix)
        if path is not None:
            with file_lock(path, shared=shared, wait=wait) as held:
                yield held
        elif name == COMMIT_LOCK:
            with _IN_MEMORY:
                yield True
        else:  # an in-memory catalog (tests): no build is seen, so no load expires anything
            yield shared
    else:
        raise UnsupportedCatalog(
            f"the Iceberg catalog {make_url(catalog_uri).render_as_string(hide_password=True)} is "
            f"{backend}: only SQLite and PostgreSQL catalogs are supported (SPOTIFY_BULK_CATALOG_URI)"
        )


@contextlib.contextmanager
def lake_commit_lock(catalog_uri: str) -> Iterator[None]:
    """Hold the lake's commit lock of the catalog at `catalog_uri` (a SQLAlchemy URL); waits for it."""
    with _catalog_lock(catalog_uri, COMMIT_LOCK, LOCK_SUFFIX, shared=False, wait=True):
        yield


@contextlib.contextmanager
def build_reading(catalog_uri: str) -> Iterator[None]:
    """Say a build is reading the lake (held shared, from before its pins until it has published)."""
    with _catalog_lock(catalog_uri, BUILD_LOCK, BUILD_LOCK_SUFFIX, shared=True, wait=True):
        yield


@contextlib.contextmanager
def no_build_reading(catalog_uri: str) -> Iterator[bool]:
    """Whether no build is reading the lake, held so until the block ends (none can start meanwhile);
    never waits."""
    with _catalog_lock(catalog_uri, BUILD_LOCK, BUILD_LOCK_SUFFIX, shared=False, wait=False) as free:
        yield free
