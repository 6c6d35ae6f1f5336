"""The Iceberg lake on S3 (moto): atomic partition replacement, snapshots, races, crashes."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pyarrow as pa
import pytest

from pipeline.config import ObjectStoreSettings, Settings, open_table_lake
from pipeline.storage.object_store import StoreUrl, s3_filesystem
from pipeline.storage.partition_columns import local_path
from pipeline.storage.tables import TableLake
from tests.kits.commit_driver import rows
from tests.kits.fake_lake import named_files

DAY = date(2026, 6, 10)
ROOT = Path(__file__).resolve().parents[2]


def _settings(tmp_path: Path, store: ObjectStoreSettings, bucket: str) -> Settings:
    return Settings(data_dir=tmp_path / "data", lake_url=f"s3://{bucket}/lake", object_store=store)


def _counts(lake: TableLake, table: str, **scan: object) -> dict[tuple[str, str], tuple[int, set[int]]]:
    data = lake.read(table, **scan).to_pylist()  # type: ignore[arg-type]
    out: dict[tuple[str, str], tuple[int, set[int]]] = {}
    for row in data:
        key = (row["licensor"], row["date"].isoformat())
        count, markers = out.get(key, (0, set()))
        out[key] = (count + 1, markers | {row["n"]})
    return out


def test_partition_replaced_in_one_commit_and_old_snapshot_stays_readable(tmp_path, moto_store):
    lake = open_table_lake(_settings(tmp_path, moto_store, "replace"))
    lake.replace_partition("streams", "acme", DAY, rows(5, 5))
    lake.replace_partition("streams", "globex", DAY, rows(3, 3))
    pinned = lake.snapshot_ids()["streams"]
    commit = lake.replace_partition("streams", "acme", DAY, rows(7, 7))

    assert commit.attempts == 1 and commit.rows == 7
    assert _counts(lake, "streams") == {
        ("acme", DAY.isoformat()): (7, {7}),
        ("globex", DAY.isoformat()): (3, {3}),
    }
    # A reader pinned to the earlier snapshot still sees the old partition, whole.
    assert _counts(lake, "streams", snapshot_id=pinned)[("acme", DAY.isoformat())] == (5, {5})
    files = lake.partitions("streams")
    assert set(files) == {("acme", DAY), ("globex", DAY)}
    assert all(path.startswith("s3://replace/lake/") for paths in files.values() for path in paths)


def _objects(store: ObjectStoreSettings, url: str, suffix: str) -> set[str]:
    from pyarrow.fs import FileSelector, FileType

    selector = FileSelector(StoreUrl.parse(url).path_for_pyarrow(), recursive=True, allow_not_found=True)
    found = s3_filesystem(store).get_file_info(selector)
    return {i.path for i in found if i.type == FileType.File and i.path.endswith(suffix)}


def test_expiry_removes_old_snapshots_and_their_files_but_never_the_current_ones(tmp_path, moto_store):
    lake = open_table_lake(_settings(tmp_path, moto_store, "expire"))
    for size in (1, 2, 3):
        lake.replace_partition("users", "acme", DAY, rows(size, size))
    lake.replace_partition("users", "globex", DAY, rows(4, 4))
    assert len(_objects(moto_store, "s3://expire/lake", ".parquet")) == 4
    before = len(lake.load("users").snapshots())
    expired = lake.expire(datetime.now(UTC) + timedelta(seconds=1))
    table = lake.load("users")
    assert expired == before - 1 and len(table.snapshots()) == 1
    assert _counts(lake, "users") == {
        ("acme", DAY.isoformat()): (3, {3}),
        ("globex", DAY.isoformat()): (4, {4}),
    }
    live = {p.removeprefix("s3://") for paths in lake.partitions("users").values() for p in paths}
    assert _objects(moto_store, "s3://expire/lake", ".parquet") == live  # superseded files deleted


def test_retention_deletes_old_partitions_from_the_store(tmp_path, moto_store):
    lake = open_table_lake(_settings(tmp_path, moto_store, "retain"))
    for n in range(3):
        lake.replace_partition("streams", "acme", DAY + timedelta(days=n), rows(2, n))
    assert lake.delete_before(DAY + timedelta(days=2)) == 1
    lake.expire(datetime.now(UTC) + timedelta(seconds=1))
    assert set(lake.partitions("streams")) == {("acme", DAY + timedelta(days=2))}
    assert len(_objects(moto_store, "s3://retain/lake", ".parquet")) == 1


def test_the_orphan_sweep_runs_on_the_store_too(tmp_path, moto_store):
    """Unreferenced objects (a crashed writer's, a dropped table's) go; what a table names stays."""
    lake = open_table_lake(_settings(tmp_path, moto_store, "orphans"))
    for n in range(3):
        lake.replace_partition("streams", "acme", DAY + timedelta(days=n), rows(2, n))
    lake.replace_partition("users", "acme", DAY, rows(2, 9))
    lake.sibling("marts").replace_partition("fct_x", "acme", DAY, rows(2, 5))  # another namespace
    fs = s3_filesystem(moto_store)
    strays = [
        "orphans/lake/streams/data/licensor=acme/crashed.parquet",
        "orphans/lake/streams/metadata/m.avro",
    ]
    for path in strays:
        with fs.open_output_stream(path) as out:
            out.write(b"not referenced")
    lake.drop("users")
    dropped = _objects(moto_store, "s3://orphans/lake/users", "")
    marts = _objects(moto_store, "s3://orphans/lake/marts", "")
    assert dropped and marts

    removed = lake.remove_orphans(datetime.now(UTC) + timedelta(seconds=1))
    left = _objects(moto_store, "s3://orphans/lake", "")
    assert removed >= len(strays) + len(dropped)
    assert not (set(strays) | dropped) & left
    assert marts <= left  # the marts namespace's tables are not the lake's to sweep
    table = lake.load("streams")
    assert {p.removeprefix("s3://") for p in named_files(table)} <= left
    assert {k: v[1] for k, v in _counts(lake, "streams").items()} == {
        ("acme", (DAY + timedelta(days=n)).isoformat()): {n} for n in range(3)
    }


def test_objects_land_in_the_bucket_under_the_prefix(tmp_path, moto_store):
    settings = _settings(tmp_path, moto_store, "layout")
    open_table_lake(settings).replace_partition("tracks", "acme", DAY, rows(2, 2))
    fs = s3_filesystem(moto_store)
    from pyarrow.fs import FileSelector

    listed = [
        info.path
        for info in fs.get_file_info(
            FileSelector(StoreUrl.parse(settings.lake_url).path_for_pyarrow(), recursive=True)
        )
    ]
    assert any("licensor=acme/date=2026-06-10" in path and path.endswith(".parquet") for path in listed)
    assert any(path.endswith(".metadata.json") for path in listed)


def _driver(tmp_path: Path, store: ObjectStoreSettings, bucket: str, *args: str) -> subprocess.Popen[str]:
    env = {
        **os.environ,
        "AWS_ENDPOINT_URL": store.endpoint,
        "AWS_ACCESS_KEY_ID": store.access_key_id,
        "AWS_SECRET_ACCESS_KEY": store.secret_access_key,
    }
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "tests.kits.commit_driver",
            str(tmp_path / "data"),
            f"s3://{bucket}/lake",
            *args,
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_two_workers_committing_different_partitions_of_one_table_both_succeed(tmp_path, moto_store):
    days = [DAY + timedelta(days=n) for n in range(2)]
    spec = ",".join(d.isoformat() for d in days)
    workers = [
        _driver(tmp_path, moto_store, "race", "streams", licensor, spec, str(size))
        for licensor, size in (("acme", 4), ("globex", 6))
    ]
    outputs = [w.communicate(timeout=240) for w in workers]
    for worker, (out, err) in zip(workers, outputs, strict=True):
        assert worker.returncode == 0, err
        assert out.count("committed") == len(days)

    lake = open_table_lake(_settings(tmp_path, moto_store, "race"))
    expected = {
        (lic, d.isoformat()): (size, {size}) for lic, size in (("acme", 4), ("globex", 6)) for d in days
    }
    assert _counts(lake, "streams") == expected


@pytest.mark.parametrize("kill_at", ["write", "commit"])
def test_commit_killed_midway_leaves_no_torn_partition_and_the_rerun_completes(tmp_path, moto_store, kill_at):
    bucket = f"crash-{kill_at}"
    lake = open_table_lake(_settings(tmp_path, moto_store, bucket))
    lake.replace_partition("streams", "acme", DAY, rows(5, 5))
    lake.replace_partition("streams", "acme", DAY + timedelta(days=1), rows(2, 2))
    before = lake.snapshot_ids()

    crashed = _driver(tmp_path, moto_store, bucket, "streams", "acme", DAY.isoformat(), "9", kill_at)
    out, err = crashed.communicate(timeout=120)
    assert crashed.returncode == -9, (out, err)
    assert "committed" not in out

    # Nothing of the dead writer is visible: the same snapshot, the old partition whole.
    assert lake.snapshot_ids() == before
    counts = _counts(lake, "streams")
    assert counts[("acme", DAY.isoformat())] == (5, {5})
    assert counts[("acme", (DAY + timedelta(days=1)).isoformat())] == (2, {2})

    lake.replace_partition("streams", "acme", DAY, rows(9, 9))  # the re-run, in-process
    assert _counts(lake, "streams")[("acme", DAY.isoformat())] == (9, {9})


def test_partition_columns_and_types_survive_the_table_format(tmp_path, moto_store):
    lake = open_table_lake(_settings(tmp_path, moto_store, "types"))
    data = pa.table(
        {
            "ts": pa.array([datetime(2026, 6, 10, 12, tzinfo=UTC)], pa.timestamp("us", tz="UTC")),
            "genres": pa.array([["pop", "rock"]], pa.list_(pa.string())),
            "flag": pa.array([True]),
        }
    )
    lake.replace_partition("tracks", "acme", DAY, data)
    back = lake.read("tracks", licensor="acme", day=DAY)
    assert back.column("genres").to_pylist() == [["pop", "rock"]]
    assert back.column("date").to_pylist() == [DAY]
    assert back.schema.field("ts").type == pa.timestamp("us", tz="UTC")


def test_a_second_engine_reads_the_lake_through_the_table_format(tmp_path, moto_store, monkeypatch):
    """Polars' own Iceberg scan (its Parquet reader, the snapshot's file list): a replaced partition
    reads as the new version only, as any Iceberg engine sees it."""
    import polars as pl

    monkeypatch.setenv("POLARS_ICEBERG_PLANNER", "pyiceberg")  # planned by pyiceberg, read by Polars
    lake = open_table_lake(_settings(tmp_path, moto_store, "polars"))
    lake.replace_partition("streams", "acme", DAY, rows(3, 3))
    lake.replace_partition("streams", "globex", DAY, rows(2, 2))
    lake.replace_partition("streams", "acme", DAY, rows(4, 4))
    store = {
        "aws_endpoint_url": moto_store.endpoint,
        "aws_access_key_id": moto_store.access_key_id,
        "aws_secret_access_key": moto_store.secret_access_key,
        "aws_region": moto_store.region,
        "aws_allow_http": "true",
    }
    scan = pl.scan_iceberg(lake.load("streams"), storage_options=store)
    counted = scan.group_by("licensor", "n").agg(pl.len()).collect()
    assert sorted(counted.iter_rows()) == [("acme", 4, 4), ("globex", 2, 2)]


@pytest.mark.parametrize(
    "lost",
    [
        ("IntegrityError", "duplicate key value violates unique constraint"),  # PostgreSQL (seen in CI)
        ("OperationalError", "table iceberg_tables already exists"),  # SQLite
    ],
)
def test_a_catalog_whose_tables_a_concurrent_worker_created_meanwhile_is_opened_again(
    tmp_path, monkeypatch, lost
):
    """Two workers starting on a new catalog both create its tables; the loser's error means the
    tables exist: open again."""
    from sqlalchemy import exc

    from pipeline.storage import tables

    real, calls = tables.SqlCatalog, []
    kind, message = lost

    def racing(*args: object, **kwargs: str) -> object:
        calls.append(kwargs["uri"])
        if len(calls) == 1:
            raise getattr(exc, kind)("CREATE TABLE iceberg_tables", {}, Exception(message))
        return real(*args, **kwargs)

    monkeypatch.setattr(tables, "SqlCatalog", racing)
    uri = f"sqlite:///{tmp_path / 'catalog.db'}"
    catalog = tables.open_catalog(uri, str(tmp_path / "lake"), ObjectStoreSettings())
    assert len(calls) == 2 and catalog.list_namespaces() == []


def _staged(path: Path, licensor: str, day: date) -> Path:
    import pyarrow.parquet as pq

    from pipeline.storage.partition_columns import with_partition_columns

    pq.write_table(with_partition_columns(rows(4, 7), licensor, day), path, compression="zstd")
    return path


@pytest.mark.parametrize("written_for", ["acme", "globex"])
def test_a_file_written_for_its_partition_is_committed_as_is_any_other_is_rewritten(tmp_path, written_for):
    """Landing writes the partition columns itself so the commit copies its bytes (no re-encode);
    a file whose statistics show another partition's values is rewritten with the right ones."""
    lake = TableLake.local(tmp_path / "data")
    staged = _staged(tmp_path / "staged.parquet", written_for, DAY)
    commit = lake.replace_partition_file("streams", "acme", DAY, staged)
    (location,) = commit.files
    landed = lake.read("streams").to_pylist()
    assert {(r["licensor"], r["date"], r["n"]) for r in landed} == {("acme", DAY, 7)}
    assert len(landed) == 4
    copied = local_path(location).read_bytes() == staged.read_bytes()
    assert copied == (written_for == "acme")


def test_replacing_a_partition_reads_the_table_metadata_once(tmp_path, monkeypatch):
    """A landing commits a licensor-day's tables one by one: each commit loads its table once (its
    first attempt commits on that metadata), and reports the snapshot it made without reloading.
    The catalog's compare-and-swap reads the current metadata once more (pyiceberg's commit)."""
    lake = TableLake.local(tmp_path / "data")
    lake.replace_partition_file("streams", "acme", DAY, _staged(tmp_path / "first.parquet", "acme", DAY))
    loads: list[object] = []
    load_table = lake.catalog.load_table
    monkeypatch.setattr(lake.catalog, "load_table", lambda ident: loads.append(ident) or load_table(ident))
    staged = _staged(tmp_path / "again.parquet", "globex", DAY)
    commit = lake.replace_partition_file("streams", "globex", DAY, staged)
    assert loads == [("lake", "streams")] * 2  # was 6: exists + load, twice, the commit, a reload
    assert commit.attempts == 1 and commit.snapshot_id == lake.snapshot_ids()["streams"]
    assert set(lake.partitions("streams")) == {("acme", DAY), ("globex", DAY)}
