"""External merge sort for days larger than memory: sorted runs on disk, merged k at a time.

Each spilled run is sorted in memory before it is written. Merging reads a small batch from each
run; every round emits all rows not above the smallest "last key" among the batches (every row
still unread is at or above it), sorted together. Memory is (runs merged at once) x (batch), so
it stays flat whatever the day's size; past `fan_in` runs, runs are first merged into longer runs.

Why not DuckDB's out-of-core ORDER BY over the runs: with a 128 MB memory limit it fails on a
16 M-row day ("failed to pin block"), with more the process passes 512 MB, and it costs more CPU.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

RUN_COMPRESSION = "lz4"  # runs are read once, soon: speed over size


_TAKE_THREADS = 2


def sort_table(table: pa.Table, keys: tuple[str, ...]) -> pa.Table:
    """`table` sorted by `keys` ascending, nulls last, stably.

    Columns are reordered a couple at a time (in threads: `take` releases the GIL), each original
    dropped once its sorted copy exists, so the peak is the table plus two columns rather than
    two full copies.
    """
    sort_keys = [(key, "ascending", "at_end") for key in keys]
    order = pc.sort_indices(table.select(list(keys)).combine_chunks(), sort_keys=sort_keys)
    names, columns = table.column_names, table.columns
    del table
    if len(order) < 100_000:
        return pa.Table.from_arrays([column.take(order) for column in columns], names=names)

    def reorder(index: int) -> None:
        columns[index] = columns[index].take(order)

    with ThreadPoolExecutor(max_workers=_TAKE_THREADS, thread_name_prefix="landing-sort") as pool:
        list(pool.map(reorder, range(len(columns))))
    return pa.Table.from_arrays(columns, names=names)


def write_run(table: pa.Table, path: Path, batch_rows: int) -> None:
    """Write a sorted run in row groups of `batch_rows`, so merging reads it in small steps."""
    pq.write_table(table, path, compression=RUN_COMPRESSION, row_group_size=batch_rows)


def _key_of(columns: list[pa.ChunkedArray], row: int) -> tuple[tuple[int, Any], ...]:
    """A comparable sort key for one row; (1, None) orders nulls last."""
    return tuple((1, None) if (value := column[row].as_py()) is None else (0, value) for column in columns)


def key_of(table: pa.Table, keys: tuple[str, ...], row: int) -> tuple[tuple[int, Any], ...]:
    """Row `row`'s sort key, comparable across tables (nulls last)."""
    return _key_of([table.column(key) for key in keys], row)


def _rows_at_most(batch: pa.Table, keys: tuple[str, ...], bound: tuple[tuple[int, Any], ...]) -> int:
    """How many leading rows of the sorted `batch` have a key <= `bound` (binary search)."""
    columns = [batch.column(key) for key in keys]
    low, high = 0, batch.num_rows
    while low < high:
        middle = (low + high) // 2
        if _key_of(columns, middle) <= bound:
            low = middle + 1
        else:
            high = middle
    return low


class _Run:
    """A sorted run being consumed: the current row group and the rest of the file.

    Row groups are read one by one (`iter_batches` buffers tens of MB per open file).
    """

    def __init__(self, path: Path) -> None:
        self._file = pq.ParquetFile(path)
        self._next_group = 0
        self.head: pa.Table | None = None
        self.advance()

    def advance(self) -> None:
        self.head = None
        while self.head is None and self._next_group < self._file.num_row_groups:
            group = self._file.read_row_group(self._next_group, use_threads=False)
            self._next_group += 1
            self.head = group if group.num_rows else None
        if self.head is None:
            self._file.close()


def merge_runs(paths: list[Path], keys: tuple[str, ...]) -> Iterator[pa.Table]:
    """The rows of sorted runs `paths` (row groups of a few thousand rows), in order, as a stream
    of sorted tables."""
    runs = [run for run in (_Run(path) for path in paths) if run.head is not None]
    while runs:
        last_keys = []
        for run in runs:
            assert run.head is not None
            columns = [run.head.column(key) for key in keys]
            last_keys.append(_key_of(columns, run.head.num_rows - 1))
        bound = min(last_keys)
        pieces = []
        for run in runs:
            assert run.head is not None
            taken = _rows_at_most(run.head, keys, bound)
            if taken:
                pieces.append(run.head.slice(0, taken))
                if taken == run.head.num_rows:
                    run.advance()
                else:
                    run.head = run.head.slice(taken)
        runs = [run for run in runs if run.head is not None]
        yield sort_table(pa.concat_tables(pieces), keys) if len(pieces) > 1 else pieces[0]


def reduce_runs(
    paths: list[Path], keys: tuple[str, ...], batch_rows: int, fan_in: int, new_path: Callable[[], Path]
) -> list[Path]:
    """Merge runs into longer ones until at most `fan_in` remain (bounded memory at any size)."""
    paths = list(paths)
    while len(paths) > fan_in:
        group, paths = paths[:fan_in], paths[fan_in:]
        merged = new_path()
        with pq.ParquetWriter(merged, pq.read_schema(group[0]), compression=RUN_COMPRESSION) as writer:
            for table in merge_runs(group, keys):
                writer.write_table(table, row_group_size=batch_rows)
        for path in group:
            path.unlink()
        paths.append(merged)
    return paths
