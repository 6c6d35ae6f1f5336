"""One lake table's rows -> one sorted, zstd Parquet file, in bounded memory.

Parsed batches accumulate in memory. A day that fits under `spill_bytes` is sorted in memory and
written one row group at a time; a larger one is spilled as sorted runs and merged (`merge.py`).
Either way pyarrow writes the file with exactly the declared schema. Until that last step a row
carries a 4-byte file number instead of its `_source_file` string and no `_loaded_at` (one value
for all rows): less to hold, spill and sort.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from pipeline.landing.drift import EXTRA
from pipeline.landing.merge import merge_runs, reduce_runs, sort_table, write_run
from pipeline.reports import TableSpec

_FILE = "__file"


@dataclass(frozen=True)
class SinkSettings:
    """Memory and file-shape knobs shared by the tables of one landing."""

    spill_bytes: int = 96 << 20  # Arrow bytes held (per landing) before a sorted run is spilled
    row_group_rows: int = 131_072
    merge_batch_rows: int = 8_192  # rows per row group of a run: what merging reads at a time
    merge_fan_in: int = 32  # runs merged at once; more are first merged into longer runs
    zstd_level: int = 1  # Arrow's default; level 3 costs 25 % more time for ~the same size here


@dataclass(frozen=True)
class SinkResult:
    rows: int
    null_counts: dict[str, int]
    spilled_runs: int


@dataclass(frozen=True)
class _Lineage:
    sources: pa.Array
    loaded_at: pa.Scalar

    def apply(self, part: pa.Table, schema: pa.Schema) -> pa.Table:
        """Swap the file number for `_source_file` and add `_loaded_at`: the declared schema."""
        columns = part.columns
        source_file = self.sources.take(columns[-1])
        loaded_at = pa.repeat(self.loaded_at, part.num_rows)
        return pa.Table.from_arrays([*columns[:-1], source_file, loaded_at], schema=schema)


class TableSink:
    """Collects one table's rows; `finish` writes them sorted by `TableSpec.sort_by`, nulls last."""

    def __init__(self, spec: TableSpec, work_dir: Path, settings: SinkSettings) -> None:
        self.spec = spec
        self.schema = spec.schema
        self.rows_schema = pa.schema([*spec.fields, pa.field(EXTRA, pa.string())])
        self._held_schema = self.rows_schema.append(pa.field(_FILE, pa.int32()))
        self.work_dir = work_dir
        self.settings = settings
        self.rows = 0
        self.null_counts = dict.fromkeys(self.schema.names, 0)
        self._pending: list[pa.Table] = []
        self._pending_bytes = 0
        self._runs: list[Path] = []
        self._run_names = (work_dir / f"run-{n:05d}.parquet" for n in itertools.count())

    def add(self, rows: pa.Table, file_number: int) -> None:
        """Take rows with the declared fields and `_extra` (`rows_schema`) from file `file_number`."""
        if not rows.num_rows:
            return
        if not rows.schema.equals(self.rows_schema):
            raise TypeError(f"{self.spec.name}: batch schema {rows.schema} is not the declared one")
        self.rows += rows.num_rows
        for name, column in zip(rows.column_names, rows.columns, strict=True):
            self.null_counts[name] += column.null_count
        numbers = pa.repeat(pa.scalar(file_number, pa.int32()), rows.num_rows)
        self._pending.append(pa.Table.from_arrays([*rows.columns, numbers], schema=self._held_schema))
        self._pending_bytes += rows.nbytes
        if self._pending_bytes >= self.settings.spill_bytes:
            self._spill()

    def _take_pending(self) -> pa.Table:
        rows = pa.concat_tables(self._pending) if self._pending else self._held_schema.empty_table()
        self._pending, self._pending_bytes = [], 0
        return rows

    def _spill(self) -> None:
        """Sort what is held and write it as a run file."""
        if not self._pending:
            return
        self.work_dir.mkdir(parents=True, exist_ok=True)
        run = next(self._run_names)
        write_run(sort_table(self._take_pending(), self.spec.sort_by), run, self.settings.merge_batch_rows)
        self._runs.append(run)
        pa.default_memory_pool().release_unused()

    def finish(self, out_path: Path, sources: list[str], loaded_at: datetime) -> SinkResult:
        """Write every row, sorted, to `out_path`; `sources[n]` is the `_source_file` of file n."""
        loaded = pa.scalar(loaded_at, self.schema.field("_loaded_at").type)
        lineage = _Lineage(pa.array(sources, pa.string()), loaded)
        if self._runs:
            self._spill()
            settings = self.settings
            runs = reduce_runs(
                self._runs,
                self.spec.sort_by,
                settings.merge_batch_rows,
                settings.merge_fan_in,
                lambda: next(self._run_names),
            )
            self._write(merge_runs(runs, self.spec.sort_by), lineage, out_path)
        else:
            ordered = sort_table(self._take_pending(), self.spec.sort_by)
            step = self.settings.row_group_rows
            slices = (ordered.slice(start, step) for start in range(0, ordered.num_rows, step))
            self._write(slices, lineage, out_path)
        return SinkResult(self.rows, dict(self.null_counts), len(self._runs))

    def _sorting_columns(self) -> tuple[pq.SortingColumn, ...]:
        """The sort order, declared in the file's metadata for engines that can use it."""
        index = {name: i for i, name in enumerate(self.schema.names)}
        return tuple(
            pq.SortingColumn(index[c], descending=False, nulls_first=False) for c in self.spec.sort_by
        )

    def _write(self, parts: Iterator[pa.Table], lineage: _Lineage, out_path: Path) -> None:
        """Write sorted parts as row groups of `row_group_rows`, with exactly the declared schema.

        Encoding and compressing a row group (in a writer thread) overlaps with sorting or merging
        the next one; at most one row group waits, so memory stays bounded.
        """
        group_rows = self.settings.row_group_rows
        buffered: list[pa.Table] = []
        buffered_rows = 0
        with (
            pq.ParquetWriter(
                out_path,
                self.schema,
                compression="zstd",
                compression_level=self.settings.zstd_level,
                write_statistics=True,
                sorting_columns=self._sorting_columns(),
            ) as writer,
            ThreadPoolExecutor(max_workers=1, thread_name_prefix="landing-write") as pool,
        ):
            pending: Future[None] | None = None

            def write(table: pa.Table) -> None:
                nonlocal pending
                if pending is not None:
                    pending.result()
                pending = pool.submit(writer.write_table, table, row_group_size=group_rows)

            for part in parts:
                buffered.append(lineage.apply(part, self.schema))
                buffered_rows += part.num_rows
                if buffered_rows >= group_rows:
                    table = pa.concat_tables(buffered)
                    while table.num_rows >= group_rows:
                        write(table.slice(0, group_rows))
                        table = table.slice(group_rows)
                    buffered, buffered_rows = [table], table.num_rows
            if buffered_rows:
                write(pa.concat_tables(buffered))
            if pending is not None:
                pending.result()
