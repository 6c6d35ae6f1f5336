"""A load expires the snapshots it superseded: a backfill's commits stay as cheap as its first,
nothing a reader may still hold goes before its grace period, and nothing a running build pinned
goes at all."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pyarrow as pa
import pytest
from pyiceberg.exceptions import CommitFailedException

from pipeline.storage.catalog_lock import build_reading, no_build_reading
from pipeline.storage.expiry import AT_LEAST, Expiry, expire_superseded
from pipeline.storage.partition_columns import local_path
from pipeline.storage.tables import TableLake

DAY = date(2025, 3, 1)
HOUR = 3600.0


def _rows(n: int) -> pa.Table:
    return pa.table({"track_id": [f"T{i}" for i in range(n)], "streams": list(range(n))})


def _snapshots(lake: TableLake, table: str = "streams") -> list[int]:
    iceberg = lake.load(table)
    assert iceberg is not None
    return [s.snapshot_id for s in iceberg.snapshots()]


def _files(lake: TableLake, snapshot_id: int) -> set[Path]:
    listed = lake.files("streams", snapshot_id)
    return {p for paths in listed.values() for f in paths if (p := local_path(f)) is not None}


@pytest.fixture
def lake(tmp_path: Path) -> TableLake:
    return TableLake.local(tmp_path / "data")


def test_a_backfill_of_new_days_keeps_one_snapshot(lake):
    for n in range(12):
        last = lake.replace_partition("streams", "acme", DAY + timedelta(days=n), _rows(3))
        expiry = expire_superseded(lake, [last], HOUR, at_least=1)
        assert not expiry.left_to
        assert expiry.expired == (1 if n else 0)  # its predecessor: every file of it still live
    assert len(_snapshots(lake)) == 1
    days = lake.files("streams")
    assert sorted(day for _, day in days) == [DAY + timedelta(days=n) for n in range(12)]
    assert all(p.exists() for p in _files(lake, _snapshots(lake)[0]))
    assert lake.read("streams").num_rows == 36


def test_a_backfill_expires_once_every_few_loads(lake):
    counts = []
    for n in range(20):
        last = lake.replace_partition("streams", "acme", DAY + timedelta(days=n), _rows(3))
        expire_superseded(lake, [last], HOUR)  # the loads' default: every AT_LEAST superseded
        counts.append(len(_snapshots(lake)))
    assert max(counts) == AT_LEAST and counts.count(1) == 3  # the first day, then the 9th and the 17th
    assert lake.read("streams").num_rows == 60


def test_a_replaced_partition_keeps_its_files_for_the_grace_period(lake):
    last = lake.replace_partition("streams", "acme", DAY, _rows(3))
    (first,) = _snapshots(lake)
    replaced = _files(lake, first)
    last = lake.replace_partition("streams", "acme", DAY, _rows(5))  # a late re-publication: delete, then add
    expiry = expire_superseded(lake, [last], HOUR, at_least=1)
    assert expiry.expired == 1  # the delete's snapshot: what it holds, the current one holds too
    assert first in _snapshots(lake) and len(_snapshots(lake)) == 2  # a reader may still hold it
    assert all(p.exists() for p in replaced)
    assert lake.read("streams", snapshot_id=first).num_rows == 3  # time travel within the grace

    assert expire_superseded(lake, [last], 0, at_least=1).expired == 1  # past the grace: it goes
    assert first not in _snapshots(lake)
    assert not any(p.exists() for p in replaced)  # with the files only it held
    assert lake.read("streams").num_rows == 5


def test_a_tagged_snapshot_is_never_expired_by_a_load(lake):
    last = lake.replace_partition("streams", "acme", DAY, _rows(3))
    (published,) = _snapshots(lake)
    lake.tag({"streams": published}, "published-1")
    last = lake.replace_partition("streams", "acme", DAY + timedelta(days=1), _rows(3))
    last = lake.replace_partition("streams", "acme", DAY, _rows(4))
    expire_superseded(lake, [last], 0, at_least=1)
    assert published in _snapshots(lake)
    assert all(p.exists() for p in _files(lake, published))


@pytest.fixture(params=["sqlite", "postgresql"])
def catalog_uri(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'catalog.db'}"
    server = request.getfixturevalue("postgres_server")
    server.create_database("build_lock")
    return server.url("build_lock")


def test_builds_share_the_reading_lock_and_loads_see_it_without_waiting(catalog_uri):
    with no_build_reading(catalog_uri) as free:
        assert free
    # two builds may read at once; a load is told at once, not made to wait for them
    with build_reading(catalog_uri), build_reading(catalog_uri), no_build_reading(catalog_uri) as free:
        assert not free
    with no_build_reading(catalog_uri) as free:
        assert free
        with no_build_reading(catalog_uri) as second:
            assert not second  # one load expires at a time


def test_a_load_never_expires_a_snapshot_a_running_build_pinned(lake):
    last = lake.replace_partition("streams", "acme", DAY, _rows(3))
    with build_reading(lake.catalog_uri):
        (pinned,) = _snapshots(lake)  # the build pins the current snapshot, then reads it for long
        last = lake.replace_partition("streams", "acme", DAY, _rows(6))
        expiry = expire_superseded(lake, [last], 0, at_least=1)
        assert expiry.left_to == "the running build" and expiry.expired == 0
        assert pinned in _snapshots(lake)
        assert lake.read("streams", snapshot_id=pinned).num_rows == 3
    assert expire_superseded(lake, [last], 0, at_least=1).expired == 2  # the build is done: now they go
    assert pinned not in _snapshots(lake)


def test_a_load_with_nothing_due_asks_nothing(lake):
    last = lake.replace_partition("streams", "acme", DAY, _rows(3))
    last = lake.replace_partition("streams", "acme", DAY, _rows(4))
    assert last.snapshots == 3
    with build_reading(lake.catalog_uri):  # not even the lock is asked for: the commits said enough
        assert expire_superseded(lake, [last], HOUR) == Expiry()
        assert expire_superseded(lake, [last], HOUR, at_least=2).left_to == "the running build"


def _loses_once(lake: TableLake, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The catalog's next commit loses its race to a load (pyiceberg's SQL catalog found the table's
    metadata changed between reading and swapping it): once, then commits go through."""
    real, lost = type(lake.catalog).commit_table, []

    def lose_the_first(self, table, requirements, updates):
        if not lost:
            lost.append(table.name())
            raise CommitFailedException("Table has been updated by another process")
        return real(self, table, requirements, updates)

    monkeypatch.setattr(type(lake.catalog), "commit_table", lose_the_first)
    return lost


def test_a_build_tags_its_pins_while_loads_commit(lake, monkeypatch):
    lake.replace_partition("streams", "acme", DAY, _rows(3))
    (pinned,) = _snapshots(lake)
    lost = _loses_once(lake, monkeypatch)
    lake.tag({"streams": pinned}, "published-1")  # its first try loses, the next one tags
    assert lost
    assert lake.load("streams").metadata.refs["published-1"].snapshot_id == pinned


def test_an_expiry_that_loses_to_a_load_leaves_the_table_for_the_next(lake, monkeypatch):
    for n in range(3):
        lake.replace_partition("streams", "acme", DAY + timedelta(days=n), _rows(3))
    lost = _loses_once(lake, monkeypatch)
    assert lake.expire(datetime.now(UTC), contained=True) == 0  # no error: a build's publish goes on
    assert lost and len(_snapshots(lake)) == 3
    assert lake.expire(datetime.now(UTC), contained=True) == 2
