"""A load expires the snapshots it superseded (storage/expiry.py), through `land_partition` with the
grace period its options give: a re-landed day's replaced files stay for the grace, then go."""

from __future__ import annotations

from pathlib import Path

from pipeline.ingest.landing import LandingOptions
from pipeline.storage.partition_columns import local_path
from tests.ingest.test_aggregated import T1, T2, _land, _record
from tests.kits.fake_lake import lake_tables

AGGREGATED = ("aggregated_summary", "aggregated_count", "aggregated_skips", "aggregated_saves")


def _files(layout, table: str) -> set[Path]:
    listed = lake_tables(layout).files(table)
    return {p for paths in listed.values() for f in paths if (p := local_path(f)) is not None}


def _snapshots(layout, table: str) -> int:
    iceberg = lake_tables(layout).load(table)
    assert iceberg is not None
    return len(iceberg.snapshots())


def test_relanded_days_expire_what_they_superseded(layout, archive):
    said: list[str] = []
    _land(layout, [archive("aggregated_streams", "day.gz", [_record(T1, [1] * 8, [2] * 8, [3] * 8)])])
    first = {table: _files(layout, table) for table in AGGREGATED}
    record = _record(T2, [5] * 8, [6] * 8, [7] * 8)
    for _ in range(4):  # each re-landing: a delete, then an add; the 4th leaves 8 superseded
        _land(layout, [archive("aggregated_streams", "day.gz", [record])], on_progress=said.append)
    # the delete halves went at once; each replaced landing stays a reader's for the grace period
    assert {table: _snapshots(layout, table) for table in AGGREGATED} == dict.fromkeys(AGGREGATED, 5)
    assert "expired 16 superseded snapshot(s)" in said  # four per table, the four tables together
    assert all(p.exists() for files in first.values() for p in files)

    for _ in range(2):  # past the grace: 6, then 8 superseded, all expired with their files
        _land(
            layout,
            [archive("aggregated_streams", "day.gz", [record])],
            options=LandingOptions(reader_grace_seconds=0),
        )
    assert {table: _snapshots(layout, table) for table in AGGREGATED} == dict.fromkeys(AGGREGATED, 1)
    assert not any(p.exists() for files in first.values() for p in files)
