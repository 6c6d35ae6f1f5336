"""A replace commits one snapshot: an append for a new partition, an overwrite naming the files it drops
and adds for an existing one; a held file listed again stays as it was; a filter that does not select
whole files keeps pyiceberg's row-level delete."""

from __future__ import annotations

from datetime import date

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from pyiceberg.expressions import AlwaysTrue, And, EqualTo, GreaterThanOrEqual, Not, Or
from pyiceberg.table import Table
from pyiceberg.table.snapshots import Operation

from pipeline.storage.overwrite import columns_of, selects_whole_files
from pipeline.storage.tables import TableLake
from tests.kits.commit_driver import rows

DAY = date(2026, 6, 1)
NEXT = date(2026, 6, 2)


def _history(table: Table) -> list[Operation]:
    return [s.summary.operation for s in sorted(table.snapshots(), key=lambda s: s.sequence_number)]


def _loaded(lake: TableLake, name: str) -> Table:
    table = lake.load(name)
    assert table is not None
    return table


def test_a_new_partition_is_one_append_and_a_replaced_one_one_overwrite(tmp_path):
    lake = TableLake.local(tmp_path / "data")
    lake.replace_partition("streams", "acme", DAY, rows(3, 1))
    lake.replace_partition("streams", "acme", NEXT, rows(2, 2))
    first = lake.files("streams")[("acme", DAY)]

    commit = lake.replace_partition("streams", "acme", DAY, rows(4, 3))

    table = _loaded(lake, "streams")
    assert _history(table) == [Operation.APPEND, Operation.APPEND, Operation.OVERWRITE]
    assert commit.snapshot_id == table.current_snapshot().snapshot_id  # type: ignore[union-attr]
    summary = table.current_snapshot().summary  # type: ignore[union-attr]
    assert (summary["deleted-data-files"], summary["added-data-files"]) == ("1", "1")
    assert (summary["deleted-records"], summary["added-records"], summary["total-records"]) == ("3", "4", "6")
    files = lake.files("streams")
    assert files[("acme", DAY)] == list(commit.files) != first
    by_day = {(r["date"], r["n"]) for r in lake.read("streams").to_pylist()}
    assert by_day == {(DAY, 3), (NEXT, 2)}
    assert lake.read("streams", licensor="acme", day=DAY).num_rows == 4


def test_an_emptied_partition_drops_its_files_in_one_snapshot(tmp_path):
    lake = TableLake.local(tmp_path / "data")
    lake.replace_partition("streams", "acme", DAY, rows(3, 1))
    lake.replace_partition(
        "streams", "acme", DAY, pa.table({"n": pa.array([], pa.int64()), "i": pa.array([], pa.int64())})
    )

    table = _loaded(lake, "streams")
    assert _history(table) == [Operation.APPEND, Operation.DELETE]
    assert lake.read("streams").num_rows == 0 and lake.files("streams") == {}


def test_a_held_file_listed_again_stays_and_only_the_new_one_is_read(tmp_path):
    lake = TableLake.local(tmp_path / "data")
    schema = rows(1, 0).schema
    table = lake.table_for("acc", schema, partitioned=False)
    held = lake.data_path(table)
    lake.replace_files("acc", [_written(table, held, rows(2, 1))], schema, partitioned=False)
    added_by = _loaded(lake, "acc").current_snapshot().snapshot_id  # type: ignore[union-attr]

    fresh = lake.data_path(table)
    lake.replace_files(
        "acc",
        [held, _written(table, fresh, rows(3, 2))],
        schema,
        partitioned=False,
        properties={"through": "x"},
    )

    table = _loaded(lake, "acc")
    current = table.current_snapshot()
    assert current is not None and current.summary["through"] == "x"
    assert _history(table) == [Operation.APPEND, Operation.APPEND]  # nothing dropped: an append
    entries = {
        e.data_file.file_path: e.snapshot_id
        for m in current.manifests(table.io)
        for e in m.fetch_manifest_entry(table.io)
    }
    assert entries == {held: added_by, fresh: current.snapshot_id}  # the held file's entry untouched
    assert sorted(r["n"] for r in lake.read("acc").to_pylist()) == [1, 1, 2, 2, 2]


def _written(table: Table, path: str, data: pa.Table) -> str:
    with table.io.new_output(path).create() as out:
        pq.write_table(data, out)
    return path


def test_a_filter_on_other_columns_keeps_the_row_level_delete(tmp_path):
    lake = TableLake.local(tmp_path / "data")
    lake.replace_partition("streams", "acme", DAY, rows(4, 1))
    where = And(EqualTo("licensor", "acme"), GreaterThanOrEqual("i", 2))  # half of the partition's file
    assert not selects_whole_files(_loaded(lake, "streams"), where)

    new = {
        "n": pa.array([9], pa.int64()),
        "i": pa.array([7], pa.int64()),
        "licensor": ["acme"],
        "date": [DAY],
    }
    lake.replace_rows("streams", pa.table(new), where, partition_by=("licensor", "date"))

    assert sorted((r["n"], r["i"]) for r in lake.read("streams").to_pylist()) == [(1, 0), (1, 1), (9, 7)]


@pytest.mark.parametrize(
    ("where", "columns"),
    [
        (AlwaysTrue(), set()),
        (And(EqualTo("licensor", "a"), EqualTo("date", "2026-06-01")), {"licensor", "date"}),
        (Or(EqualTo("date", "2026-06-01"), Not(EqualTo("licensor", "b"))), {"licensor", "date"}),
    ],
)
def test_the_columns_a_filter_tests(where, columns):
    assert columns_of(where) == columns


def test_only_identity_partition_columns_select_whole_files(tmp_path):
    lake = TableLake.local(tmp_path / "data")
    lake.replace_partition("streams", "acme", DAY, rows(1, 1))
    table = _loaded(lake, "streams")
    assert selects_whole_files(
        table, And(EqualTo("licensor", "acme"), GreaterThanOrEqual("date", "2026-06-01"))
    )
    assert selects_whole_files(table, AlwaysTrue())
    assert not selects_whole_files(table, EqualTo("n", 1))
