"""One lake table's rows -> one sorted, zstd Parquet file, streamed, in bounded memory.

Bulk API days come as one file per country and the tables sort by country first, so each file's
rows, sorted on their own, usually follow the previous file's in the final order. The sink
exploits that: when a file ends, its rows are sorted (in a background thread, while the next file
is parsed) and appended straight to the output, so a day is written once, with no global sort and
no merge. A file too big for the memory budget is spilled as sorted runs and merged on its own.
Only rows that would break the order (a file whose first key sorts before what was already
written) go to a separate run, merged with the output at the end: correct for any input, and
as cheap as a single pass for the input the API really sends.

Until a row is written it carries a 4-byte file number instead of its `_source_file` string and no
`_loaded_at` (one value for all rows): less to hold, spill and sort.
"""

from __future__ import annotations

import contextlib
import itertools
import os
from collections.abc import Callable, Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from pipeline.ingest.landing.drift import EXTRA
from pipeline.ingest.landing.memory import trim
from pipeline.ingest.landing.merge import (
    RunWriter,
    buffered_output,
    key_of,
    merge_runs,
    reduce_runs,
    sort_table,
    write_run,
)
from pipeline.reports import TableSpec
from pipeline.storage.partition_columns import with_partition_columns

_FILE = "__file"


@dataclass(frozen=True)
class SinkSettings:
    """Memory and file-shape knobs shared by the tables of one landing."""

    spill_bytes: int = 48 << 20  # Arrow bytes of one file's rows held (per landing) before a run is spilled
    row_group_rows: int = 131_072
    merge_batch_rows: int = 8_192  # rows per row group of a run: what merging reads at a time
    merge_fan_in: int = 32  # runs merged at once; more are first merged into longer runs
    zstd_level: int = 1  # Arrow's default; level 3 costs 25 % more time for ~the same size here


@dataclass(frozen=True)
class SinkResult:
    rows: int
    null_counts: dict[str, int]
    spilled_runs: int  # runs written to disk: parts of files over the budget, and out-of-order files


@dataclass(frozen=True)
class Lineage:
    """Where rows came from: `sources[n]` is file n's `_source_file`; one `_loaded_at` for all.

    With a `partition` (licensor, day), the written file also holds the table's partition columns,
    as the lake's data files do: committing it is then a byte copy, not a decode and re-encode
    (`TableLake.replace_partition_file`; that re-encode was a fifth of a landing's CPU).
    """

    sources: pa.Array
    loaded_at: pa.Scalar
    partition: tuple[str, date] | None = None

    @classmethod
    def of(
        cls,
        sources: list[str],
        loaded_at: datetime,
        schema: pa.Schema,
        partition: tuple[str, date] | None = None,
    ) -> Lineage:
        stamp = pa.scalar(loaded_at, schema.field("_loaded_at").type)
        return cls(pa.array(sources, pa.string()), stamp, partition)

    def file_schema(self, declared: pa.Schema) -> pa.Schema:
        """The schema of the written file: the declared one, plus the partition columns if any."""
        if self.partition is None:
            return declared
        return with_partition_columns(declared.empty_table(), *self.partition).schema

    def apply(self, part: pa.Table, schema: pa.Schema) -> pa.Table:
        """Swap the file number for `_source_file` and add `_loaded_at` (the declared `schema`),
        then the partition columns if any."""
        columns = part.columns
        source_file = self.sources.take(columns[-1])
        loaded_at = pa.repeat(self.loaded_at, part.num_rows)
        table = pa.Table.from_arrays([*columns[:-1], source_file, loaded_at], schema=schema)
        return table if self.partition is None else with_partition_columns(table, *self.partition)


class _RowGroupWriter:
    """Sorted tables -> a Parquet file in row groups of `group_rows`, encoded in a writer thread.

    At most one row group is being encoded while the next is gathered, so memory stays bounded.
    """

    def __init__(self, path: Path, schema: pa.Schema, group_rows: int, **options: Any) -> None:
        self.path = path
        self._file = buffered_output(path)
        try:
            self._writer = pq.ParquetWriter(self._file, schema, write_statistics=True, **options)
        except BaseException:
            self._file.close()
            raise
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="landing-write")
        self._group_rows = group_rows
        self._buffered: list[pa.Table] = []
        self._buffered_rows = 0
        self._pending: Future[None] | None = None
        self._closed = False
        self.last_row: pa.Table | None = None  # the last row written, for order checks

    def write(self, table: pa.Table) -> None:
        if not table.num_rows:
            return
        self.last_row = table.slice(table.num_rows - 1)
        self._buffered.append(table)
        self._buffered_rows += table.num_rows
        if self._buffered_rows >= self._group_rows:
            merged = pa.concat_tables(self._buffered)
            while merged.num_rows >= self._group_rows:
                self._submit(merged.slice(0, self._group_rows))
                merged = merged.slice(self._group_rows)
            self._buffered, self._buffered_rows = [merged], merged.num_rows

    def _submit(self, table: pa.Table) -> None:
        if self._pending is not None:
            self._pending.result()
        self._pending = self._pool.submit(self._writer.write_table, table, row_group_size=self._group_rows)

    def close(self) -> None:
        """Write what is buffered and finish the file; a second call does nothing."""
        if self._closed:
            return
        self._closed = True
        try:
            if self._buffered_rows:
                self._submit(pa.concat_tables(self._buffered))
            if self._pending is not None:
                self._pending.result()
        finally:
            self._buffered, self._buffered_rows, self._pending = [], 0, None
            self._pool.shutdown(wait=True)
            try:
                self._writer.close()
            finally:
                self._file.close()


class TableSink:
    """Collects one table's rows file by file; `finish` leaves them in `out_path`, sorted by
    `TableSpec.sort_by` with nulls last (stable: equal keys keep file and line order).

    `personal` (pseudonyms, `privacy.py`) is applied to a file's rows together (or to a spilled
    part's) in the background thread, before they are sorted or reach the disk: a listener streams
    many times in one country's file, so a file has half the distinct user ids of its 4 MB blocks
    together (525 k vs 1.08 M HMACs on the bench's 2 M-row day of country files).
    """

    def __init__(
        self,
        spec: TableSpec,
        work_dir: Path,
        settings: SinkSettings,
        out_path: Path,
        lineage: Lineage,
        personal: Callable[[pa.Table], pa.Table] | None = None,
    ) -> None:
        self.spec = spec
        self.declared = spec.schema
        self.schema = lineage.file_schema(spec.schema)  # what the written file holds
        self.rows_schema = pa.schema([*spec.fields, pa.field(EXTRA, pa.string())])
        self._held_schema = self.rows_schema.append(pa.field(_FILE, pa.int32()))
        self.work_dir = work_dir
        self.settings = settings
        self.out_path = out_path
        self.lineage = lineage
        self._personal = personal
        self.rows = 0
        self.null_counts = dict.fromkeys(self.declared.names, 0)
        self._pending: list[pa.Table] = []
        self._pending_bytes = 0
        self._file_spilled = False
        self._file_runs: list[Path] = []  # sorted runs of the current file's rows (worker thread only)
        self._late_runs: list[Path] = []  # whole files that sort before rows already written
        self._spilled = 0
        self._run_names = (work_dir / f"run-{n:05d}.arrow" for n in itertools.count())
        self._output = self._open_output()
        self._worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="landing-sort")
        self._task: Future[None] | None = None

    def add(self, rows: pa.Table, file_number: int) -> None:
        """Take rows with the declared fields and `_extra` (`rows_schema`) from file `file_number`."""
        if not rows.num_rows:
            return
        if not rows.schema.equals(self.rows_schema):
            raise TypeError(f"{self.spec.name}: batch schema {rows.schema} is not the declared one")
        self.rows += rows.num_rows
        numbers = pa.repeat(pa.scalar(file_number, pa.int32()), rows.num_rows)
        self._pending.append(pa.Table.from_arrays([*rows.columns, numbers], schema=self._held_schema))
        self._pending_bytes += rows.nbytes
        if self._pending_bytes >= self.settings.spill_bytes:
            self._in_background(self._spill_run, self._take_pending())
            self._file_spilled = True

    def end_file(self) -> None:
        """The current file's rows are all in: sort them and write them out (in the background)."""
        if self._pending or self._file_spilled:
            self._in_background(self._write_file, self._take_pending())
        self._file_spilled = False

    def finish(self) -> SinkResult:
        """Write every remaining row; `out_path` then holds the table, sorted."""
        self.end_file()
        self._wait()
        self._worker.shutdown(wait=True)
        self._output.close()
        if self._late_runs:
            self.work_dir.mkdir(parents=True, exist_ok=True)
            written = self.work_dir / "written.parquet"  # read back as a run (merge.py reads both)
            os.replace(self.out_path, written)
            self._merge_into_output([written, *self._late_runs])
        return SinkResult(self.rows, dict(self.null_counts), self._spilled)

    def close(self) -> None:
        """Stop the background threads; after `finish` this does nothing, after a failure it
        abandons what was not written."""
        self._worker.shutdown(wait=True, cancel_futures=True)
        with contextlib.suppress(OSError, pa.ArrowException):  # the staging directory may be gone
            self._output.close()

    # -- background work, one task at a time and in order -------------------------------------
    def _in_background(self, work: Callable[..., None], *args: Any) -> None:
        """Run `work` after the previous task; waiting for it first bounds memory to one task's rows."""
        self._wait()
        self._task = self._worker.submit(work, *args)

    def _wait(self) -> None:
        if self._task is not None:
            task, self._task = self._task, None
            task.result()

    def _take_pending(self) -> list[pa.Table]:
        pending, self._pending, self._pending_bytes = self._pending, [], 0
        return pending

    def _held(self, parts: list[pa.Table]) -> pa.Table:
        """Rows taken by `add` (each exactly once), as one table, `personal` applied and counted."""
        table = pa.concat_tables(parts) if parts else self._held_schema.empty_table()
        parts.clear()  # the caller's list: raw ids go as soon as their pseudonyms replace them
        if self._personal is not None and table.num_rows:
            table = self._personal(table)
        for name, column in zip(table.column_names[:-1], table.columns[:-1], strict=True):
            self.null_counts[name] += column.null_count
        return table

    def _spill_run(self, parts: list[pa.Table]) -> None:
        """Sort part of a big file's rows and write them as a run (merged when the file ends)."""
        self.work_dir.mkdir(parents=True, exist_ok=True)
        run = next(self._run_names)
        write_run(sort_table(self._held(parts), self.spec.sort_by), run, self.settings.merge_batch_rows)
        self._file_runs.append(run)
        self._spilled += 1

    def _write_file(self, parts: list[pa.Table]) -> None:
        """Append one file's rows, sorted, to the output, or to a late run if they sort earlier."""
        if self._file_runs:
            if parts:
                self._spill_run(parts)
            runs, self._file_runs = self._file_runs, []
            trim()  # the spilled parts' pages: the merge needs a small fraction of them
            merged = self._reduce(runs)
            self._append(merge_runs(merged, self.spec.sort_by))
            for run in merged:
                run.unlink(missing_ok=True)
            trim()
        elif parts:
            ordered = sort_table(self._held(parts), self.spec.sort_by)
            step = self.settings.row_group_rows
            self._append(ordered.slice(start, step) for start in range(0, ordered.num_rows, step))

    def _reduce(self, runs: list[Path]) -> list[Path]:
        """At most `merge_fan_in` runs holding the rows of `runs` (merged in bounded memory)."""
        settings, names = self.settings, self._run_names
        return reduce_runs(
            runs, self.spec.sort_by, settings.merge_batch_rows, settings.merge_fan_in, lambda: next(names)
        )

    def _append(self, parts: Iterable[pa.Table]) -> None:
        tables = (self.lineage.apply(part, self.declared) for part in parts if part.num_rows)
        first = next(tables, None)
        if first is None:
            return
        target: _RowGroupWriter | RunWriter = self._output
        last = self._output.last_row
        if last is not None and key_of(first, self.spec.sort_by, 0) < key_of(last, self.spec.sort_by, 0):
            self.work_dir.mkdir(parents=True, exist_ok=True)
            run, group_rows = next(self._run_names), self.settings.merge_batch_rows
            target = RunWriter(run, self.schema, group_rows)
            self._spilled += 1
        try:
            for table in itertools.chain([first], tables):
                target.write(table)
        finally:
            if target is not self._output:
                target.close()
                self._late_runs.append(target.path)

    def _merge_into_output(self, runs: list[Path]) -> None:
        """The output so far and the late runs, merged into `out_path` (the rare out-of-order day)."""
        merged = self._reduce(runs)
        output = self._open_output()
        try:
            for table in merge_runs(merged, self.spec.sort_by):
                output.write(table)
        finally:
            output.close()

    def _open_output(self) -> _RowGroupWriter:
        """The landed file: zstd, statistics, the sort order declared in its metadata."""
        delta = _delta_encoded(self.spec, self.schema)
        return _RowGroupWriter(
            self.out_path,
            self.schema,
            self.settings.row_group_rows,
            compression="zstd",
            compression_level=self.settings.zstd_level,
            sorting_columns=self._sorting_columns(),
            use_dictionary=[name for name in self.schema.names if name not in delta],
            column_encoding=delta,
        )

    def _sorting_columns(self) -> tuple[pq.SortingColumn, ...]:
        """The sort order, declared in the file's metadata for engines that can use it."""
        index = {name: i for i, name in enumerate(self.schema.names)}
        return tuple(
            pq.SortingColumn(index[c], descending=False, nulls_first=False) for c in self.spec.sort_by
        )


def _delta_encoded(spec: TableSpec, schema: pa.Schema) -> dict[str, str]:
    """Columns with about as many values as rows, delta-encoded instead of dictionary-encoded.

    A dictionary over them outgrows its page limit within a row group and falls back to plain
    anyway, after the work of building it: user ids (a streams day has a third as many users as
    rows) and timestamps. 2 M zipf day: 8 % less encode CPU, a 3 % smaller file (RESULTS.md,
    issue 24 round 4); readers (DuckDB, Arrow, Iceberg) decode both encodings.
    """
    declared = {f.name for f in spec.fields}
    delta = {}
    for column in schema:
        if column.name not in declared:
            continue
        if pa.types.is_timestamp(column.type):
            delta[column.name] = "DELTA_BINARY_PACKED"
        elif column.name in spec.personal and pa.types.is_string(column.type):
            delta[column.name] = "DELTA_LENGTH_BYTE_ARRAY"
    return delta
