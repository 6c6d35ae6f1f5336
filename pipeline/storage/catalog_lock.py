"""The lake's commit lock, held in the Iceberg catalog's own database: visible to every machine
that commits through that catalog.

A licensor-day load commits its tables one by one (one Iceberg commit each); a build pins every
lake table's current snapshot. Both hold this lock, so a build never pins half a load. A lock file in
the data directory only orders processes of one machine; the catalog is what every loader and
builder shares, so the lock lives there: a PostgreSQL advisory lock on the catalog's database (held
by the session, so a killed holder's lock goes with its connection), or, for the local SQLite
catalog, a file lock beside the catalog's file (SQLite is one machine's by construction).
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

from pipeline.storage.atomic import exclusive_lock

LOCK_NAME = "spotify-bulk:lake-commit"
# pg_advisory_lock takes a bigint: a fixed key derived from the lock's name (advisory keys are
# per database, so it only meets other holders of this catalog's lock).
PG_LOCK_KEY = int.from_bytes(hashlib.sha256(LOCK_NAME.encode()).digest()[:8], "big", signed=True)
CONNECT_TIMEOUT_SECONDS = 10
LOCK_SUFFIX = ".commit-lock"
_IN_MEMORY = threading.Lock()  # an in-memory SQLite catalog is one process's: a thread lock suffices


class UnsupportedCatalog(ValueError):
    """A catalog URI that is neither SQLite nor PostgreSQL: there is no lock to hold in it."""


def lock_file(catalog_uri: str) -> Path | None:
    """The file lock beside a SQLite catalog's file (None for an in-memory catalog)."""
    database = make_url(catalog_uri).database
    if not database or database == ":memory:":
        return None
    path = Path(database)
    return path.with_name(path.name + LOCK_SUFFIX)


@contextlib.contextmanager
def _postgres_lock(catalog_uri: str) -> Iterator[None]:
    """A session-level advisory lock on the catalog's database, released on exit or when the
    holder's connection drops (a killed process never leaves it held)."""
    engine = sa.create_engine(
        catalog_uri, poolclass=NullPool, connect_args={"connect_timeout": CONNECT_TIMEOUT_SECONDS}
    )
    try:
        with engine.connect() as connection:
            connection.execute(sa.text("SELECT pg_advisory_lock(:key)"), {"key": PG_LOCK_KEY})
            connection.commit()  # the lock is the session's, not the transaction's
            try:
                yield
            finally:
                connection.execute(sa.text("SELECT pg_advisory_unlock(:key)"), {"key": PG_LOCK_KEY})
                connection.commit()
    finally:
        engine.dispose()


@contextlib.contextmanager
def lake_commit_lock(catalog_uri: str) -> Iterator[None]:
    """Hold the lake's commit lock of the catalog at `catalog_uri` (a SQLAlchemy URL); waits for it."""
    backend = make_url(catalog_uri).get_backend_name()
    if backend == "postgresql":
        with _postgres_lock(catalog_uri):
            yield
    elif backend == "sqlite":
        path = lock_file(catalog_uri)
        with exclusive_lock(path) if path is not None else _IN_MEMORY:
            yield
    else:
        raise UnsupportedCatalog(
            f"the Iceberg catalog {make_url(catalog_uri).render_as_string(hide_password=True)} is "
            f"{backend}: only SQLite and PostgreSQL catalogs are supported (SPOTIFY_BULK_CATALOG_URI)"
        )
