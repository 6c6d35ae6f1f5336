"""`sort_table` sorts text keys by integer ranks: the order must be exactly the strings' order."""

from __future__ import annotations

import random

import pyarrow as pa
import pyarrow.compute as pc

from pipeline.ingest.landing.merge import sort_table


def test_ranked_sort_equals_the_stable_sort_by_the_values_nulls_last():
    rng = random.Random(7)
    words = ["", "a", "B", "b", "ä", "ab", "z" * 30, "😀", None]
    size = 150_000  # past the threaded reordering threshold too
    table = pa.table(
        {
            "country": pa.array([rng.choice(words) for _ in range(size)], pa.string()),
            "track_id": pa.chunked_array(
                [pa.array([rng.choice(words) for _ in range(size // 2)], pa.string())] * 2
            ),
            "n": pa.array([rng.choice([1, 2, None]) for _ in range(size)], pa.int64()),
            "row": pa.array(range(size), pa.int64()),
        }
    )
    keys = ("country", "track_id", "n")
    expected = table.take(pc.sort_indices(table, sort_keys=[(k, "ascending", "at_end") for k in keys]))
    got = sort_table(table, keys)
    assert got.column("row").to_pylist() == expected.column("row").to_pylist()  # stable: ties keep order
    assert got.equals(expected)
