"""A snapshot's file listing is read once per process, however a build reaches its table.

A build reaches the marts through a new `sibling` of the lake each time and asks for a mart's files
after each of its commits; with a long history each listing names thousands of files, so reading
or converting them again at every step is what made a one-day build cost more as history grew.
"""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

import pytest

from pipeline.layout import Layout
from pipeline.storage import tables
from pipeline.storage.tables import TableLake
from pipeline.warehouse.paths import MARTS, WarehousePaths
from pipeline.warehouse.pinned import Pinned
from tests.kits.commit_driver import rows

DAY = date(2026, 6, 1)


def _commit(lake: TableLake, days: int, marker: int = 0) -> int:
    """`days` partitions of `fct` replaced; the table's snapshot after the last."""
    commit = None
    for n in range(days):
        commit = lake.replace_partition("fct", "acme", DAY + timedelta(days=n), rows(2, marker + n))
    assert commit is not None
    return commit.snapshot_id


def _refuse_catalog(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*_args: object, **_kwargs: object) -> None:
        raise AssertionError("the catalog was asked again")

    monkeypatch.setattr(TableLake, "load", refuse)
    monkeypatch.setattr(TableLake, "snapshot_ids", refuse)


def test_a_listing_is_remembered_across_the_lakes_siblings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    lake = TableLake.local(tmp_path / "data")
    sid = _commit(lake.sibling(MARTS), 3)
    first = lake.sibling(MARTS).files("fct", sid)
    assert sorted(day for _, day in first) == [DAY, DAY + timedelta(days=1), DAY + timedelta(days=2)]
    _refuse_catalog(monkeypatch)
    assert lake.sibling(MARTS).files("fct", sid) is first  # another sibling: no catalog, no manifest


def test_a_process_keeps_only_the_latest_listings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setattr(tables, "LISTINGS_KEPT", 2)
    lake = TableLake.local(tmp_path / "data")
    ids = [_commit(lake, 1, marker=n) for n in range(3)]  # three snapshots of one table
    listings = [lake.files("fct", sid) for sid in ids]
    assert lake.files("fct", ids[2]) is listings[2]
    assert lake.files("fct", ids[0]) is not listings[0]  # forgotten (the oldest), listed again
    assert lake.files("fct", ids[0]) == listings[0]


def test_a_build_finds_a_mart_it_did_not_write_without_asking_the_catalog_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    lake = TableLake.local(tmp_path / "data")
    marts = lake.sibling(MARTS)
    _commit(marts, 2)
    pinned = Pinned(WarehousePaths(Layout(tmp_path / "data"), lake), {})
    before = pinned.mart_files("fct")
    assert len(before) == 2
    written = _commit(marts, 1, marker=9)  # the build replaces the first day
    with monkeypatch.context() as patched:
        _refuse_catalog(patched)
        assert pinned.mart_files("fct") is before
    pinned.wrote("fct", written)
    after = pinned.mart_files("fct")
    assert after.keys() == before.keys()
    assert after[("acme", DAY)] != before[("acme", DAY)]
    # The partition the commit did not touch keeps its references: only what changed is converted.
    assert after[("acme", DAY + timedelta(days=1))] is before[("acme", DAY + timedelta(days=1))]


def test_a_builds_paths_open_a_configured_lake_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """A lake on a configured catalog (PostgreSQL, object storage) is not cached per process like
    a data directory's own: a build's paths open it once, and its namespaces share one memory."""
    monkeypatch.setenv("SPOTIFY_BULK_CATALOG_URI", f"sqlite:///{tmp_path / 'catalog.db'}")
    paths = WarehousePaths(Layout(tmp_path / "data"))
    lake = paths.lake
    assert paths.lake is lake
    assert paths.marts._remembered is lake._remembered
    assert paths.accumulators._remembered is lake._remembered
