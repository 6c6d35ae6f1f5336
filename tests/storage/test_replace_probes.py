"""Probes of `TableLake.replace_files` (written to review a one-snapshot replace, since reverted; they
hold for the delete-then-add commit too): empty data files, a writer
racing on a stale table (pyiceberg's own commit retry, then the lake's), schema evolution in the same
commit, expiry and the per-process listings after replaces, retention, and outside readers."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import duckdb
import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from pyiceberg.exceptions import CommitFailedException
from pyiceberg.table import Table
from pyiceberg.table.snapshots import Operation

from pipeline.config import open_table_lake
from pipeline.storage import tables as tables_module
from pipeline.storage.partition_columns import with_partition_columns
from pipeline.storage.tables import TableLake, partition_filter
from tests.kits.commit_driver import rows
from tests.storage.test_tables import _objects, _settings

DAY = date(2026, 6, 1)
NEXT = date(2026, 6, 2)


def _loaded(lake: TableLake, name: str) -> Table:
    table = lake.load(name)
    assert table is not None
    return table


def _planned(table: Table) -> list[str]:
    """The live data files as pyiceberg plans them, empty ones included (one entry per manifest entry)."""
    return sorted(t.file.file_path for t in table.scan(options={"include_empty_files": "true"}).plan_files())


def _listed(lake: TableLake, name: str) -> list[str]:
    return sorted(path for paths in lake.files(name).values() for path in paths)


def _written(table: Table, lake: TableLake, data: pa.Table, part: tuple[str, date] | None = None) -> str:
    path = lake.data_path(table, *part) if part is not None else lake.data_path(table)
    with table.io.new_output(path).create() as out:
        pq.write_table(data, out)
    return path


def _history(table: Table) -> list[Operation]:
    return [s.summary.operation for s in sorted(table.snapshots(), key=lambda s: s.sequence_number)]


def test_an_empty_file_a_whole_table_replace_held_is_dropped_by_the_next_one(tmp_path):
    """A dimension built empty commits a file of no rows; the next build's replace must drop it (pyiceberg's
    scan planning skips files of no rows, so a plan of what to drop missed it and it stayed for good)."""
    lake = TableLake.local(tmp_path / "data")
    schema = rows(1, 0).schema
    table = lake.table_for("dim", schema, partitioned=False)
    empty = _written(table, lake, rows(0, 0))
    lake.replace_files("dim", [empty], schema, partitioned=False)
    full = _written(table, lake, rows(2, 1))
    lake.replace_files("dim", [full], schema, partitioned=False)
    again = _written(table, lake, rows(3, 2))
    lake.replace_files("dim", [again], schema, partitioned=False)

    table = _loaded(lake, "dim")
    assert _planned(table) == _listed(lake, "dim") == [again]
    assert sorted(r["n"] for r in lake.read("dim").to_pylist()) == [2, 2, 2]


def test_an_empty_held_file_listed_again_stays_once(tmp_path):
    """An accumulator lists its held files again with the new one: a held file of no rows must stay one
    entry, not be added a second time (then twice more, as the listing names it twice)."""
    lake = TableLake.local(tmp_path / "data")
    schema = rows(1, 0).schema
    table = lake.table_for("acc", schema, partitioned=False)
    empty = _written(table, lake, rows(0, 0))
    lake.replace_files("acc", [empty], schema, partitioned=False)
    for n in range(1, 4):
        lake.replace_files("acc", [empty], schema, partitioned=False, properties={"through": str(n)})

    table = _loaded(lake, "acc")
    assert _planned(table) == _listed(lake, "acc") == [empty]


@pytest.mark.parametrize(
    ("held", "racer", "attempts", "left"),
    [
        # another partition: pyiceberg's retry rebuilds the commit on the new head (no conflict)
        (("acme", "globex"), "globex", 1, {("acme", 4): 4, ("globex", 5): 5}),
        # the same partition: pyiceberg's retry refuses the stale plan, the lake plans again
        (("acme", "globex"), "acme", 2, {("acme", 4): 4, ("globex", 2): 2}),
        # a partition new to both writers (nothing to drop): never both versions side by side
        (("globex",), "acme", 2, {("acme", 4): 4, ("globex", 2): 2}),
    ],
)
def test_a_stale_writer_leaves_each_partition_once(tmp_path, held, racer, attempts, left):
    """A writer that planned on a table another writer has since committed to: every partition ends as
    one writer's whole version, the later commit's for the partition both wrote (a re-run replaces it)."""
    lake = TableLake.local(tmp_path / "data")
    for licensor in held:
        lake.replace_partition("s", licensor, DAY, rows({"acme": 3, "globex": 2}[licensor], 2))
    stale = _loaded(lake, "s")
    TableLake(lake.catalog, lake.location).replace_partition("s", racer, DAY, rows(5, 5))

    data = with_partition_columns(rows(4, 4), "acme", DAY)
    path = _written(stale, lake, data, ("acme", DAY))
    commit = lake.replace_files("s", [path], data.schema, partition=("acme", DAY), loaded=stale)

    table = _loaded(lake, "s")
    assert commit.attempts == attempts
    assert Counter((r["licensor"], r["n"]) for r in lake.read("s").to_pylist()) == left
    assert lake.files("s")[("acme", DAY)] == [path]
    assert _planned(table) == _listed(lake, "s") and len(_planned(table)) == 2


def test_a_stale_replace_finds_the_files_it_drops_in_manifests_a_concurrent_merge_rewrote(tmp_path):
    """pyiceberg's commit retry rebuilds the replace on a head whose merge-append rewrote every manifest:
    the file planned for dropping is found there (as an existing entry) and dropped, nothing else."""
    lake = TableLake.local(tmp_path / "data")
    for n in range(5):  # five appends: five manifests, no merge yet
        lake.replace_partition("s", "acme", DAY + timedelta(days=n), rows(2, n))
    stale = _loaded(lake, "s")
    other = TableLake(lake.catalog, lake.location)
    for n in range(3):  # the third brings the count to the merge threshold: one manifest
        other.replace_partition("s", "globex", DAY + timedelta(days=n), rows(1, 7 + n))
    merged = _loaded(lake, "s")
    assert len(merged.current_snapshot().manifests(merged.io)) == 1  # type: ignore[union-attr]

    data = with_partition_columns(rows(3, 9), "acme", DAY)
    path = _written(stale, lake, data, ("acme", DAY))
    lake.replace_files("s", [path], data.schema, partition=("acme", DAY), loaded=stale)

    table = _loaded(lake, "s")
    once = Counter((r["licensor"], r["date"], r["n"]) for r in lake.read("s").to_pylist() if r["i"] == 0)
    expected = {("acme", DAY + timedelta(days=n), n): 1 for n in range(1, 5)}
    expected |= {("globex", DAY + timedelta(days=n), 7 + n): 1 for n in range(3)}
    assert once == expected | {("acme", DAY, 9): 1}
    assert lake.files("s")[("acme", DAY)] == [path]
    assert _planned(table) == _listed(lake, "s") and len(_planned(table)) == 8


def test_a_read_merge_write_beaten_to_its_rows_is_told_to_derive_them_again(tmp_path, monkeypatch):
    """`based_on`: a concurrent commit to the same rows between the check and the catalog commit makes
    pyiceberg's retry refuse (ValidationException); the caller gets `CommitFailedException`, its signal
    to read again and merge, not an error it does not handle."""
    lake = TableLake.local(tmp_path / "data")
    by = ("licensor", "date")
    lake.replace_rows(
        "s", with_partition_columns(rows(2, 1), "acme", DAY), partition_filter("acme", DAY), partition_by=by
    )
    based_on = lake.snapshot_ids()["s"]
    same_columns = tables_module._same_columns

    def beaten(table: Table, schema: pa.Schema) -> bool:  # inside the commit, after the based_on check
        monkeypatch.setattr(tables_module, "_same_columns", same_columns)
        other = TableLake(lake.catalog, lake.location)
        other.replace_rows(
            "s",
            with_partition_columns(rows(3, 3), "acme", DAY),
            partition_filter("acme", DAY),
            partition_by=by,
        )
        return same_columns(table, schema)

    monkeypatch.setattr(tables_module, "_same_columns", beaten)
    with pytest.raises(CommitFailedException):
        lake.replace_rows(
            "s",
            with_partition_columns(rows(4, 4), "acme", DAY),
            partition_filter("acme", DAY),
            partition_by=by,
            based_on=based_on,
        )
    assert Counter(r["n"] for r in lake.read("s").to_pylist()) == {3: 3}  # the winner's rows, whole


def test_a_new_column_and_the_replace_that_brings_it_are_one_commit(tmp_path):
    lake = TableLake.local(tmp_path / "data")
    lake.replace_partition("s", "acme", DAY, rows(2, 1))
    lake.replace_partition("s", "acme", NEXT, rows(2, 2))
    wider = rows(3, 3).append_column("extra", pa.array(["x", "y", "z"]))
    before = len(_loaded(lake, "s").metadata.metadata_log)

    lake.replace_partition("s", "acme", DAY, wider)

    table = _loaded(lake, "s")
    assert len(table.metadata.metadata_log) == before + 1  # one metadata version: schema and data
    got = sorted((r["date"], r["n"], r["extra"]) for r in lake.read("s").to_pylist())
    assert got == [(DAY, 3, "x"), (DAY, 3, "y"), (DAY, 3, "z"), (NEXT, 2, None), (NEXT, 2, None)]


def _parquet_on_disk(root: Path) -> set[str]:
    return {str(p) for p in (root / "data" / "lake" / "s" / "data").rglob("*.parquet")}


def test_expiry_deletes_what_a_replace_dropped_only_with_its_last_snapshot(tmp_path):
    lake = TableLake.local(tmp_path / "data")
    lake.replace_partition("s", "acme", DAY, rows(1, 1))
    lake.replace_partition("s", "acme", NEXT, rows(1, 2))
    first = lake.files("s")[("acme", DAY)]
    pinned = lake.snapshot_ids()
    lake.tag(pinned, "published-1")  # a published build reads the first file
    lake.replace_partition("s", "acme", DAY, rows(2, 3))
    second = lake.files("s")[("acme", DAY)]
    lake.replace_partition("s", "acme", DAY, rows(3, 4))

    later = datetime.now(UTC) + timedelta(seconds=1)
    assert lake.expire(later) >= 2  # the superseded ones: not the tagged, not the current
    on_disk = _parquet_on_disk(tmp_path)
    assert set(first) <= on_disk  # the tag keeps it
    assert not set(second) & on_disk  # only expired snapshots held it: deleted
    table = _loaded(lake, "s")
    assert set(_planned(table)) | set(first) == on_disk
    assert lake.read("s", snapshot_id=pinned["s"]).num_rows == 2  # the tagged snapshot still reads

    lake.load("s").manage_snapshots().remove_tag("published-1").commit()  # type: ignore[union-attr]
    assert lake.expire(datetime.now(UTC) + timedelta(seconds=1)) == 1
    assert _parquet_on_disk(tmp_path) == set(_planned(_loaded(lake, "s")))
    assert lake.remove_orphans(datetime.now(UTC) + timedelta(hours=2)) == 0  # nothing left behind


def test_the_listing_matches_the_plan_through_replaces_merges_and_expiry(tmp_path):
    """The per-process listing (`TableLake.files`, manifests read once) names exactly what pyiceberg
    plans, snapshot after snapshot, through replaces, merge-appends, expiries and retention."""
    lake = TableLake.local(tmp_path / "data")
    days = [DAY + timedelta(days=n) for n in range(4)]
    for n in range(14):  # many replaces of few partitions, through manifest merges
        lake.replace_partition("s", ("acme", "globex")[n % 2], days[n % 4], rows(2, n))
        table = _loaded(lake, "s")
        assert _listed(lake, "s") == _planned(table), n
    lake.expire(datetime.now(UTC) + timedelta(seconds=1))
    assert _listed(lake, "s") == _planned(_loaded(lake, "s"))
    assert lake.delete_before(days[2]) == 1
    lake.replace_partition("s", "acme", days[3], rows(2, 99))  # a replace after the retention delete
    table = _loaded(lake, "s")
    assert _listed(lake, "s") == _planned(table)
    once = Counter((r["licensor"], r["date"]) for r in lake.read("s").to_pylist() if r["i"] == 0)
    assert once == {("acme", days[2]): 1, ("globex", days[3]): 1, ("acme", days[3]): 1}


def test_outside_readers_see_exactly_the_new_rows_after_a_replace(tmp_path, monkeypatch):
    monkeypatch.setenv("POLARS_ICEBERG_PLANNER", "pyiceberg")  # planned by pyiceberg, read by Polars
    lake = TableLake.local(tmp_path / "data")
    lake.replace_partition("s", "acme", DAY, rows(3, 1))
    lake.replace_partition("s", "acme", NEXT, rows(2, 2))
    lake.replace_partition("s", "acme", DAY, rows(4, 7))
    table = _loaded(lake, "s")
    expected = Counter({(DAY, 7): 4, (NEXT, 2): 2})

    scanned = table.scan().to_arrow().to_pylist()
    assert Counter((r["date"], r["n"]) for r in scanned) == expected
    frame = pl.scan_iceberg(table).collect()
    assert Counter(zip(frame["date"].to_list(), frame["n"].to_list(), strict=True)) == expected
    files = _planned(table)
    got = duckdb.connect().execute("SELECT date, n FROM read_parquet($files)", {"files": files}).fetchall()
    assert Counter(got) == expected


def test_on_the_object_store_what_replaces_dropped_goes_at_expiry_empty_files_too(tmp_path, moto_store):
    """The lake on S3 (moto): a whole-table replace over an empty file and a partition's replaces; after
    expiry the bucket holds exactly the current snapshot's data files."""
    lake = open_table_lake(_settings(tmp_path, moto_store, "overwrite-gc"))
    schema = rows(1, 0).schema
    table = lake.table_for("dim", schema, partitioned=False)
    for data in (rows(0, 0), rows(2, 1)):
        lake.replace_files("dim", [_written(table, lake, data)], schema, partitioned=False)
    for n in range(3):
        lake.replace_partition("s", "acme", DAY, rows(2, n))
    lake.replace_partition("s", "acme", NEXT, rows(1, 9))

    lake.expire(datetime.now(UTC) + timedelta(seconds=1))

    live = {p.removeprefix("s3://") for name in ("dim", "s") for p in _planned(_loaded(lake, name))}
    assert _objects(moto_store, "s3://overwrite-gc/lake", ".parquet") == live
    assert len(live) == 3
    assert Counter(r["n"] for r in lake.read("s").to_pylist()) == {2: 2, 9: 1}
