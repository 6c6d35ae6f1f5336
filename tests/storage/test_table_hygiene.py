"""A table leaves nothing behind on disk: its metadata files stay bounded however many commits it
took, expiry deletes the manifests and manifest lists only expired snapshots named, and the orphan
sweep removes what a crashed writer or a dropped table left, never what a table still names."""

from __future__ import annotations

import os
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from pyiceberg.table import Table

from pipeline.storage.partition_columns import local_path
from pipeline.storage.tables import METADATA_BOUND, METADATA_VERSIONS, TableLake
from tests.kits.commit_driver import rows
from tests.kits.fake_lake import named_files

DAY = date(2026, 6, 1)
LICENSORS = ("acme", "globex")


def _metadata_folder(table: Table) -> Path:
    folder = local_path(table.location())
    assert folder is not None
    return folder / "metadata"


def _table_files(table: Table) -> set[str]:
    """Every file in the table's metadata folder."""
    return {str(p) for p in _metadata_folder(table).iterdir()}


def _named_by(table: Table) -> set[str]:
    """The metadata files the table names: current and logged metadata, manifest lists, manifests."""
    return {str(local_path(n)) for n in named_files(table) if not n.endswith(".parquet")}


def _markers(lake: TableLake, table: str) -> dict[tuple[str, date], int]:
    return {(r["licensor"], r["date"]): r["n"] for r in lake.read(table).to_pylist() if r["i"] == 0}


def _load(lake: TableLake, name: str) -> Table:
    table = lake.load(name)
    assert table is not None
    return table


def _commit_days(lake: TableLake, days: int, marker: int = 0) -> dict[tuple[str, date], int]:
    written = {}
    for n in range(days):
        for licensor in LICENSORS:
            lake.replace_partition("streams", licensor, DAY + timedelta(days=n), rows(2, marker + n))
            written[(licensor, DAY + timedelta(days=n))] = marker + n
    return written


def _age(paths: list[Path], seconds: float) -> None:
    stamp = time.time() - seconds
    for path in paths:
        os.utime(path, (stamp, stamp))


def test_many_commits_keep_a_bounded_number_of_metadata_files(tmp_path):
    lake = TableLake.local(tmp_path / "data")
    written = _commit_days(lake, 15)  # 30 commits
    table = _load(lake, "streams")
    assert table.properties.items() >= METADATA_BOUND.items()
    versions = [p for p in _metadata_folder(table).iterdir() if p.name.endswith(".metadata.json")]
    assert len(versions) <= METADATA_VERSIONS + 1  # the current one and the ones it logs
    assert len(table.metadata.metadata_log) <= METADATA_VERSIONS
    assert _markers(lake, "streams") == written


def test_a_table_created_before_the_bound_sheds_its_old_metadata_files(tmp_path):
    lake = TableLake.local(tmp_path / "data")
    written = _commit_days(lake, 1)
    table = _load(lake, "streams")
    with table.transaction() as tx:  # as a table of the previous version: unbounded, nothing deleted
        tx.remove_properties(*METADATA_BOUND)
    for n in range(15):
        with table.transaction() as tx:
            tx.set_properties({"spotify.test.version": str(n)})
    versions = [p for p in _metadata_folder(table).iterdir() if p.name.endswith(".metadata.json")]
    assert len(versions) > METADATA_VERSIONS + 1

    written |= _commit_days(lake, 1, marker=10)  # its next writes set the bound and apply it
    table = _load(lake, "streams")
    assert table.properties.items() >= METADATA_BOUND.items()
    versions = [p for p in _metadata_folder(table).iterdir() if p.name.endswith(".metadata.json")]
    assert len(versions) <= METADATA_VERSIONS + 1
    assert _markers(lake, "streams") == written


def test_expiry_deletes_what_only_expired_snapshots_named_and_nothing_a_kept_one_reads(tmp_path):
    lake = TableLake.local(tmp_path / "data")
    _commit_days(lake, 6)
    written = _commit_days(lake, 3, marker=100)  # re-publications: superseded files and manifests
    named_before = _named_by(_load(lake, "streams"))
    assert len(_load(lake, "streams").snapshots()) > 1

    assert lake.expire(datetime.now(UTC) + timedelta(seconds=1)) > 0
    table = _load(lake, "streams")
    assert len(table.snapshots()) == 1
    named, left = _named_by(table), _table_files(table)
    only_expired = {p for p in named_before - named if p.endswith(".avro")}
    assert only_expired and not only_expired & left  # their manifest lists and manifests went
    assert named <= left  # and nothing the table still names
    # What no snapshot ever named (merge-append's intermediate manifests) is the orphan sweep's.
    assert lake.remove_orphans(datetime.now(UTC) + timedelta(seconds=1)) == len(left - named)
    assert _table_files(table) == named
    expected = {(lic, DAY + timedelta(days=n)): n for n in range(6) for lic in LICENSORS} | written
    assert _markers(lake, "streams") == expected  # every kept manifest is still readable


def test_the_orphan_sweep_removes_old_unreferenced_files_and_dropped_tables_only(tmp_path):
    lake = TableLake.local(tmp_path / "data")
    written = _commit_days(lake, 3)
    lake.replace_partition("users", "acme", DAY, rows(2, 7))
    table = _load(lake, "streams")
    folder = _metadata_folder(table)
    data = folder.parent / "data" / "licensor=acme" / f"date={DAY:%Y-%m-%d}"
    stray_data, stray_manifest = data / "crashed-writer.parquet", folder / "crashed-manifest.avro"
    stray_metadata = folder / "99999-crashed.metadata.json"
    fresh = folder / "in-flight-commit.avro"  # a writer still committing: younger than the cutoff
    for path in (stray_data, stray_manifest, stray_metadata, fresh):
        path.write_bytes(b"not referenced")
    dropped = _metadata_folder(_load(lake, "users")).parent
    lake.drop("users")
    dropped_files = [p for p in dropped.rglob("*") if p.is_file()]
    assert dropped_files
    everything = [p for p in (tmp_path / "data" / "lake").rglob("*") if p.is_file()]
    _age([p for p in everything if p != fresh], 7200)

    removed = lake.remove_orphans(datetime.now(UTC) - timedelta(hours=1))
    assert removed == 3 + len(dropped_files)
    assert not any(p.exists() for p in (stray_data, stray_manifest, stray_metadata, *dropped_files))
    assert fresh.exists()
    table = _load(lake, "streams")
    assert _table_files(table) == _named_by(table) | {str(fresh)}  # what the table names stayed
    assert _markers(lake, "streams") == written
    assert lake.remove_orphans(datetime.now(UTC) - timedelta(hours=1)) == 0  # idempotent
