"""The lake's commit lock lives in the catalog's database: a second process (any machine's, for
PostgreSQL) waits while one holds it, and a killed holder never leaves it held."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from pipeline.storage.catalog_lock import UnsupportedCatalog, lake_commit_lock, lock_file

ROOT = Path(__file__).resolve().parents[2]
# The contender: says it is about to ask for the lock, then records when it got it and holds it
# for the given seconds. The URI (with its password) goes through the environment, never argv.
CONTENDER = """
import os, sys, time
from pathlib import Path
from pipeline.storage.catalog_lock import lake_commit_lock
waiting, acquired, hold = Path(sys.argv[1]), Path(sys.argv[2]), float(sys.argv[3])
waiting.touch()
with lake_commit_lock(os.environ["TEST_CATALOG_URI"]):
    acquired.write_text(str(time.time()))
    time.sleep(hold)
"""


def _contender(uri: str, tmp_path: Path, hold: float = 0.0) -> tuple[subprocess.Popen[bytes], Path, Path]:
    waiting, acquired = tmp_path / "waiting", tmp_path / "acquired"
    for marker in (waiting, acquired):
        marker.unlink(missing_ok=True)
    child = subprocess.Popen(
        [sys.executable, "-c", CONTENDER, str(waiting), str(acquired), str(hold)],
        cwd=ROOT,
        env={**os.environ, "TEST_CATALOG_URI": uri, "PYTHONPATH": str(ROOT)},
    )
    return child, waiting, acquired


def _wait_for(path: Path, child: subprocess.Popen[bytes], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not path.exists():
        assert child.poll() is None, f"the contender exited ({child.returncode}) before {path.name}"
        assert time.monotonic() < deadline, f"no {path.name} after {timeout} s"
        time.sleep(0.02)


@pytest.fixture(params=["sqlite", "postgresql"])
def catalog_uri(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'catalog.db'}"
        return
    server = request.getfixturevalue("postgres_server")
    server.create_database("catalog_lock")
    yield server.url("catalog_lock")


def test_a_second_process_waits_while_the_lock_is_held(catalog_uri, tmp_path):
    with lake_commit_lock(catalog_uri):
        child, waiting, acquired = _contender(catalog_uri, tmp_path)
        _wait_for(waiting, child)
        time.sleep(1.0)  # long enough for the contender to have taken a free lock
        assert not acquired.exists() and child.poll() is None  # it waits, it does not fail
        released = time.time()
    assert child.wait(timeout=60) == 0
    assert float(acquired.read_text()) >= released  # it got the lock only once it was released


def test_the_holder_waits_for_the_other_process_too(catalog_uri, tmp_path):
    child, _, acquired = _contender(catalog_uri, tmp_path, hold=1.5)
    _wait_for(acquired, child)
    with lake_commit_lock(catalog_uri):
        got = time.time()
    assert got >= float(acquired.read_text()) + 1.5  # only once the contender had held it its time
    assert child.wait(timeout=60) == 0


def test_a_killed_holder_leaves_the_lock_free(catalog_uri, tmp_path):
    child, _, acquired = _contender(catalog_uri, tmp_path, hold=600)
    _wait_for(acquired, child)
    child.send_signal(signal.SIGKILL)
    child.wait(timeout=30)
    started = time.monotonic()
    with lake_commit_lock(catalog_uri):
        assert time.monotonic() - started < 30


def test_the_sqlite_lock_sits_beside_the_catalog_file(tmp_path):
    assert lock_file(f"sqlite:///{tmp_path / 'catalog.db'}") == tmp_path / "catalog.db.commit-lock"
    assert lock_file("sqlite://") is None  # in memory: one process's catalog, a thread lock
    with lake_commit_lock("sqlite://"):
        pass


def test_another_database_is_a_clear_error():
    lock = lake_commit_lock("mysql://user:secret@db/catalog")
    with pytest.raises(UnsupportedCatalog, match=r"mysql.*only SQLite and PostgreSQL.*CATALOG_URI") as error:
        lock.__enter__()
    assert "secret" not in str(error.value)
