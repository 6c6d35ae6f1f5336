"""Dagster's SQLite storage with its event log kept open: the per-event cost of a CLI run, cut.

Dagster's stock SQLite event log creates an engine and opens and closes a connection for every
event it stores. Closing the last connection of a WAL database checkpoints it (fsyncs), and each
commit fsyncs the WAL, so an event costs ~20 ms on a quiet disk and far more on a busy one; a
tiny licensor-day's load writes ~130 events and a week's warehouse build ~500, which made
Dagster's bookkeeping most of a small run. Here each database (the index and one per run) keeps
one engine with a small pool, and connections use `synchronous=NORMAL`, SQLite's recommended
setting for WAL: a crashed process loses nothing; a power loss may lose the last events, never
corrupts the database (a re-run redoes a partition whose events were lost). Same files and
schema as the stock storage, so `dagster dev` reads them as they are.
"""

from __future__ import annotations

import sqlite3
from collections import OrderedDict
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from dagster._core.storage.event_log.sqlite.sqlite_event_log import (
    SQLITE_BUSY_TIMEOUT_SECONDS,
    SqliteEventLogStorage,
)
from dagster._core.storage.sqlite_storage import DagsterSqliteStorage, _event_logs_directory
from dagster._serdes import ConfigurableClassData
from sqlalchemy import create_engine, event
from sqlalchemy.engine import Connection, Engine

MAX_OPEN_DATABASES = 16  # engines kept (the index plus the latest runs'); older ones are disposed


def _tune(dbapi_connection: Any, _record: Any) -> None:
    if isinstance(dbapi_connection, sqlite3.Connection):
        dbapi_connection.execute("PRAGMA synchronous=NORMAL")


class PooledSqliteEventLogStorage(SqliteEventLogStorage):
    """The stock SQLite event log, with one engine (and open connections) per database file."""

    def __init__(self, base_dir: str, inst_data: ConfigurableClassData | None = None) -> None:
        self._engines: OrderedDict[str, Engine] = OrderedDict()
        super().__init__(base_dir, inst_data)

    def _engine(self, shard: str) -> Engine:
        engine = self._engines.get(shard)
        if engine is not None:
            self._engines.move_to_end(shard)
            return engine
        engine = create_engine(
            self.conn_string_for_shard(shard), connect_args={"timeout": SQLITE_BUSY_TIMEOUT_SECONDS}
        )
        event.listen(engine, "connect", _tune)
        if shard not in self._initialized_dbs:
            self._initdb(engine)
            self._initialized_dbs.add(shard)
        self._engines[shard] = engine
        while len(self._engines) > MAX_OPEN_DATABASES:
            self._engines.popitem(last=False)[1].dispose()
        return engine

    @contextmanager
    def _connect(self, shard: str) -> Iterator[Connection]:  # type: ignore[override]
        with self._db_lock, self._engine(shard).connect() as conn, conn.begin():
            yield conn

    def _dispose_engines(self) -> None:
        with self._db_lock:
            while self._engines:
                self._engines.popitem()[1].dispose()

    def wipe(self) -> None:
        self._dispose_engines()  # before the files are deleted
        super().wipe()

    def dispose(self) -> None:
        self._dispose_engines()
        super().dispose()


class PooledSqliteStorage(DagsterSqliteStorage):
    """`storage: sqlite` of dagster.yaml (same directories and files), with the pooled event log."""

    def __init__(self, base_dir: str, inst_data: ConfigurableClassData | None = None) -> None:
        super().__init__(base_dir, inst_data)
        self._event_log_storage = PooledSqliteEventLogStorage(_event_logs_directory(base_dir))

    @classmethod
    def from_config_value(  # type: ignore[override]
        cls, inst_data: ConfigurableClassData, config_value: dict[str, Any]
    ) -> PooledSqliteStorage:
        return cls.from_local(inst_data=inst_data, **config_value)


def pooled_storage(storage: dict[str, Any] | None, home: str) -> dict[str, Any] | None:
    """The `storage:` instance config that puts `PooledSqliteStorage` where `storage` (the home's
    dagster.yaml; None: Dagster's default, the home itself) keeps SQLite; None for other storage
    (PostgreSQL, a custom class), which is left as configured."""
    if storage and "sqlite" not in storage:
        return None
    base_dir = storage["sqlite"]["base_dir"] if storage else home
    return {
        "custom": {
            "module": __name__,
            "class": PooledSqliteStorage.__name__,
            "config": {"base_dir": base_dir},
        }
    }
