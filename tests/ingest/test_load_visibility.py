"""A report's tables become visible together: a build pinning the lake while a load commits its
four aggregated tables sees all of that day or none of it, never half a report."""

from __future__ import annotations

import threading
import time

from pipeline.storage.tables import TableLake
from pipeline.warehouse.paths import WarehousePaths
from pipeline.warehouse.pinned import Pinned
from tests.ingest.test_aggregated import T1, T2, _land, _record
from tests.kits.fake_lake import lake_tables

AGGREGATED = ("aggregated_summary", "aggregated_count", "aggregated_skips", "aggregated_saves")


def test_a_build_never_pins_half_a_report(layout, archive, monkeypatch):
    _land(layout, [archive("aggregated_streams", "day.gz", [_record(T1, [1] * 8, [2] * 8, [3] * 8)])])
    real = TableLake.replace_partition_file
    pinned: list[Pinned] = []
    commits: list[str] = []
    reader: list[threading.Thread] = []

    def commit_then_let_a_build_pin(self, table, *args, **kwargs):
        commit = real(self, table, *args, **kwargs)
        commits.append(table)
        if len(commits) == 2:  # half the report committed: a build starts pinning now
            thread = threading.Thread(target=lambda: pinned.append(Pinned.now(WarehousePaths(layout))))
            thread.start()
            reader.append(thread)
            time.sleep(0.5)  # long enough for an unguarded pin to happen mid-load
        return commit

    monkeypatch.setattr(TableLake, "replace_partition_file", commit_then_let_a_build_pin)
    _land(layout, [archive("aggregated_streams", "day.gz", [_record(T2, [5] * 8, [6] * 8, [7] * 8)])])
    reader[0].join(timeout=30)
    (pins,) = pinned
    lake = lake_tables(layout)
    seen = {
        table: {row["track_id"] for row in lake.read(table, snapshot_id=pins.lake_ids[table]).to_pylist()}
        for table in AGGREGATED
    }
    assert len({frozenset(ids) for ids in seen.values()}) == 1, seen  # one state across the report
    assert seen["aggregated_count"] == {T2}  # the pin waited for the whole load (after it)
