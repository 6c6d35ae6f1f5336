"""A table's manifests stay bounded however many commits it took: Iceberg's merge-append is on for
every table, new or created before it was, and merging loses or duplicates no partition."""

from __future__ import annotations

from datetime import date, timedelta

from pyiceberg.table import Table

from pipeline.storage.tables import MANIFEST_MERGE, TableLake
from tests.kits.commit_driver import rows
from tests.kits.fake_lake import metadata_version

DAY = date(2026, 6, 1)
MAX_MANIFESTS = int(MANIFEST_MERGE["commit.manifest.min-count-to-merge"])


def _manifests(table: Table) -> int:
    snapshot = table.current_snapshot()
    assert snapshot is not None
    return len(snapshot.manifests(table.io))


def _partition_markers(lake: TableLake, table: str) -> dict[tuple[str, date], list[int]]:
    found: dict[tuple[str, date], list[int]] = {}
    for row in lake.read(table).to_pylist():
        if row["i"] == 0:  # one row per partition holds i == 0: a duplicated file shows twice
            found.setdefault((row["licensor"], row["date"]), []).append(row["n"])
    return found


def test_many_commits_to_one_table_leave_few_manifests_and_every_partition_once(tmp_path):
    lake = TableLake.local(tmp_path / "data")
    days = [DAY + timedelta(days=n) for n in range(12)]
    for n, day in enumerate(days):
        for licensor in ("acme", "globex"):
            lake.replace_partition("streams", licensor, day, rows(3, n))
    for n in (0, 5, 11):  # late re-publications of old and new days: the merged manifests rewritten
        lake.replace_partition("streams", "acme", days[n], rows(3, 100 + n))

    table = lake.load("streams")
    assert table is not None and table.properties.items() >= MANIFEST_MERGE.items()
    assert _manifests(table) < MAX_MANIFESTS  # 27 commits; one manifest per commit without merging
    expected = {(lic, day): [n] for n, day in enumerate(days) for lic in ("acme", "globex")}
    expected |= {("acme", days[n]): [100 + n] for n in (0, 5, 11)}
    assert _partition_markers(lake, "streams") == expected
    assert {part: len(files) for part, files in lake.files("streams").items()} == dict.fromkeys(expected, 1)

    lake.delete_before(days[6])  # retention over merged manifests
    assert set(_partition_markers(lake, "streams")) == {k for k in expected if k[1] >= days[6]}


def test_a_table_created_before_merging_gets_it_at_its_next_write_once(tmp_path):
    lake = TableLake.local(tmp_path / "data")
    lake.replace_partition("streams", "acme", DAY, rows(2, 1))
    table = lake.load("streams")
    assert table is not None
    with table.transaction() as tx:  # as a table of the previous version: no merge properties
        tx.remove_properties(*MANIFEST_MERGE)
    for n in range(1, 12):
        lake.replace_partition("streams", "acme", DAY + timedelta(days=n), rows(2, n))
    upgraded = lake.load("streams")
    assert upgraded is not None and upgraded.properties.items() >= MANIFEST_MERGE.items()
    assert _manifests(upgraded) < MAX_MANIFESTS
    version = metadata_version(upgraded)

    lake.replace_partition("streams", "acme", DAY, rows(2, 50))  # already set: no property commit
    assert metadata_version(lake.load("streams")) == version + 1  # type: ignore[arg-type]
    assert len(_partition_markers(lake, "streams")) == 12
