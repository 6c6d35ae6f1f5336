"""Writer processes racing on one table of the lake on S3 (moto), each replace of a held
partition: two writers of the same partitions and one of others, at once. Every partition ends as one
writer's whole version (one file, one marker), none lost or doubled, whichever retry path each took
(pyiceberg's commit retry on the new head, or the lake's plan again on a fresh table)."""

from __future__ import annotations

from collections import Counter
from datetime import date, timedelta

import pytest

from pipeline.config import open_table_lake
from tests.kits.commit_driver import rows
from tests.storage.test_tables import _driver, _settings

DAY = date(2026, 6, 10)
DAYS = [DAY + timedelta(days=n) for n in range(5)]


@pytest.mark.slow  # three writer processes on a loaded machine: about 45 s
def test_writers_of_the_same_and_of_other_partitions_at_once_leave_each_once(tmp_path, moto_store):
    bucket = "overwrite-race"
    lake = open_table_lake(_settings(tmp_path, moto_store, bucket))
    for day in DAYS:  # every partition held: each racing commit replaces one
        for licensor in ("acme", "globex"):
            lake.replace_partition("streams", licensor, day, rows(1, 1))

    spec = ",".join(d.isoformat() for d in DAYS)
    writers = [
        _driver(tmp_path, moto_store, bucket, "streams", licensor, spec, str(size))
        for licensor, size in (("acme", 4), ("acme", 6), ("globex", 3))
    ]
    outputs = [w.communicate(timeout=300) for w in writers]
    for writer, (out, err) in zip(writers, outputs, strict=True):
        assert writer.returncode == 0, err[-3000:]
        assert out.count("committed") == len(DAYS)

    table = lake.load("streams")
    assert table is not None
    by_partition: dict[tuple[str, date], Counter[int]] = {}
    for row in lake.read("streams").to_pylist():
        by_partition.setdefault((row["licensor"], row["date"]), Counter())[row["n"]] += 1
    assert set(by_partition) == {(lic, d) for lic in ("acme", "globex") for d in DAYS}
    for (licensor, day), markers in by_partition.items():
        ((marker, count),) = markers.items()  # one writer's version, whole
        assert count == marker and marker in ((4, 6) if licensor == "acme" else (3,)), (licensor, day)
    files = lake.files("streams")
    assert all(len(paths) == 1 for paths in files.values()), files
    planned = sorted(t.file.file_path for t in table.scan().plan_files())
    assert planned == sorted(p for paths in files.values() for p in paths)
