"""`sort_table` sorts text keys by integer ranks: the order must be exactly the strings' order."""

from __future__ import annotations

import random

import pyarrow as pa
import pyarrow.compute as pc
import pytest

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


@pytest.mark.parametrize(
    ("runs", "fan_in", "rewritten"), [(3, 3, 0), (4, 3, 2), (7, 3, 6), (12, 3, 12), (5, 4, 2)]
)
def test_reduce_runs_merges_the_fewest_leading_runs_and_keeps_ties_in_run_order(
    tmp_path, runs, fan_in, rewritten
):
    """reduce_runs leaves at most `fan_in` runs, rewriting only the leading runs it must (the rest
    are kept as they are), and the final merge equals a stable sort of the runs in order."""
    from pipeline.ingest.landing.merge import merge_runs, reduce_runs, write_run

    rng = random.Random(runs * 10 + fan_in)
    paths, parts = [], []
    for number in range(runs):
        keys = [rng.choice(["a", "b", "c", None]) for _ in range(40)]
        part = pa.table(
            {"country": pa.array(keys, pa.string()), "row": pa.array(range(number * 40, number * 40 + 40))}
        )
        part = sort_table(part, ("country",))
        paths.append(tmp_path / f"run-{number}.arrow")
        write_run(part, paths[-1], 7)
        parts.append(part)
    names = iter(tmp_path / f"merged-{n}.arrow" for n in range(100))
    left = reduce_runs(paths, ("country",), 7, fan_in, lambda: next(names))
    assert len(left) <= fan_in
    kept = [p for p in left if p in paths]
    assert kept == paths[rewritten:]  # the runs past the merged ones are untouched, in order
    got = pa.concat_tables(merge_runs(left, ("country",)))
    expected = sort_table(pa.concat_tables(parts), ("country",))
    assert got.column("row").to_pylist() == expected.column("row").to_pylist()
