"""Land one report for one licensor-day: archived gzip NDJSON -> committed lake partitions.

Everything is built in a staging directory; the rejects file and the tables are published only
at the end, under the partition's lock, and only when the reject share is within bounds: each table's
partition is replaced by one Iceberg commit, so a failed or crashed run leaves the previous snapshot
current.
"""

from __future__ import annotations

import contextlib
import functools
import os
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import pyarrow.parquet as pq

from pipeline.config import DEFAULT_READER_GRACE_SECONDS, tables_for
from pipeline.ingest.landing.aggregated import AggregatedParser
from pipeline.ingest.landing.errors import TooManyRejectsError
from pipeline.ingest.landing.fieldcheck import check_file, summarize_warnings
from pipeline.ingest.landing.flat import FlatParser
from pipeline.ingest.landing.gate import (
    BLOCKED_FILE,
    BlockedByChecksError,
    GateOutcome,
    gate_checks,
    write_blocked,
)
from pipeline.ingest.landing.memory import return_freed_memory, trim
from pipeline.ingest.landing.names import FieldMap, aliases_for, load_field_map, not_personal_for
from pipeline.ingest.landing.parsing import Parser, prepare_ahead
from pipeline.ingest.landing.personal import PersonalData
from pipeline.ingest.landing.privacy import Privacy, Pseudonymizer, ensure_consistent
from pipeline.ingest.landing.reader import Item, OverlongLine, read_blocks
from pipeline.ingest.landing.rejects import REJECTS_FILE, RawQuoting, Reject, RejectLog
from pipeline.ingest.landing.results import LandingResult, TableResult
from pipeline.ingest.landing.rules import bounds_for
from pipeline.ingest.landing.sink import Lineage, SinkSettings, TableSink
from pipeline.ingest.tally import tally_rejects, write_tally
from pipeline.layout import Layout
from pipeline.reports import PERSONAL_TABLES, TABLES_BY_NAME, ReportSpec
from pipeline.storage.atomic import exclusive_lock, staging_dir
from pipeline.storage.migrate import refuse_legacy
from pipeline.storage.partition_columns import local_path, without_partition_columns

if TYPE_CHECKING:
    from pipeline.storage.tables import TableLake

PART_FILE = "part-0.parquet"


@dataclass(frozen=True)
class LandingOptions:
    """Limits and memory knobs; the defaults suit days from empty to tens of millions of rows."""

    block_bytes: int = 4 << 20  # decompressed bytes parsed at a time (a few are in flight)
    max_line_bytes: int = 1 << 20  # longer lines are rejected without being held in memory
    max_decompressed_bytes: int = 64 << 30  # per file; a guard against zip bombs
    parse_threads: int = field(default_factory=lambda: max(1, min(4, os.cpu_count() or 1)))
    sink: SinkSettings = field(default_factory=SinkSettings)
    privacy: Privacy = field(default_factory=Privacy)  # user id pseudonyms, region codes (privacy.py)
    field_map: Path | None = None  # the user's field map of renamed fields (names.py)
    # The Iceberg tables partitions are committed to (one atomic commit per table); None: the data
    # directory's own (`catalog.db`, `lake/`). Object storage is the same code with another catalog.
    table_lake: TableLake | None = None
    # After its commits a load expires the snapshots of its tables superseded for longer than this
    # (what readers and scans may still hold), unless a build is reading the lake (expiry.py).
    reader_grace_seconds: float = DEFAULT_READER_GRACE_SECONDS


def land_partition(
    layout: Layout,
    report: ReportSpec,
    licensor: str,
    day: date,
    files: Sequence[Path],
    *,
    max_reject_share: float = 0.01,
    loaded_at: datetime | None = None,
    on_progress: Callable[[str], None] | None = None,
    options: LandingOptions | None = None,
    read_from: Mapping[Path, Path] | None = None,
    after_reading: Callable[[], None] | None = None,
) -> LandingResult:
    """Parse, type, sort and publish `files` as the report's lake partitions for `licensor`/`day`.

    `read_from` maps an archive path (what `_source_file` names) to where the file is read from
    while it is not archived yet; `after_reading` runs once every file has been read to its end
    (each gzip stream inflated whole and its trailer checked), before any reject or table is
    published: where the load archives the files whose download check was left to this inflate.

    Raises CorruptArchiveError (truncated/corrupt gzip), ArchiveTooLargeError (decompression cap),
    TooManyRejectsError (after writing the rejects file), PrivacyError (no key, or not the lake's),
    FieldMapError (a bad field map), MissingFieldError (a required field absent from a whole file)
    or UnknownShapeError (an aggregated record of no known shape); in every case nothing is published.
    """
    if not 0.0 <= max_reject_share <= 1.0:
        raise ValueError(f"max_reject_share must be between 0 and 1, got {max_reject_share}")
    opts = options or LandingOptions()
    refuse_legacy(layout)
    field_map = load_field_map(opts.field_map)
    return_freed_memory()
    trim()  # what the process freed before (a download's inflate check: ~20 MB in the e2e bench)
    not_personal = {t.name: not_personal_for(t.name, field_map) for t in report.tables}
    privacy = PersonalData(Pseudonymizer(opts.privacy), not_personal)  # user ids, region codes, `_extra`
    if any(t.name in PERSONAL_TABLES for t in report.tables):
        ensure_consistent(layout, opts.privacy)
    say = on_progress or (lambda _message: None)
    stamp = _loaded_at(loaded_at)
    rejects_final = layout.rejects_partition(report.name, licensor, day) / REJECTS_FILE
    lock = layout.lock_path(f"lake-{report.name}", licensor, day)
    with staging_dir(layout.staging_root) as work, contextlib.ExitStack() as stop_sinks:
        share = replace(opts.sink, spill_bytes=max(opts.sink.spill_bytes // len(report.tables), 1))
        unique = {Path(path).resolve(): Path(path) for path in files}  # each file once, even if listed twice
        ordered = sorted(unique.values(), key=str)  # per-country files in name order
        sources = [source_name(layout, path) for path in ordered]
        sinks = {}
        for table in report.tables:
            out_dir = work / "out" / table.name
            out_dir.mkdir(parents=True)
            lineage = Lineage.of(sources, stamp, table.schema, partition=(licensor, day))
            spill = work / "spill" / table.name
            personal = functools.partial(privacy.apply, table.name)  # per file, in the sink (sink.py)
            sinks[table.name] = TableSink(table, spill, share, out_dir / PART_FILE, lineage, personal)
            stop_sinks.callback(sinks[table.name].close)  # whatever happens, before staging goes
        pseudonyms = privacy.pseudonymizer.pseudonyms if opts.privacy.pseudonymize else None
        quoting = RawQuoting.for_report(report, pseudonyms, raw_opt_in=opts.privacy.raw_rejects)
        rejects = RejectLog(work / REJECTS_FILE, quoting)
        try:
            parser = _parser(report, day, opts, field_map)
            located = [(read_from or {}).get(path, path) for path in ordered]
            lines_total, warnings = _parse_files(parser, report, located, sources, sinks, rejects, opts, say)
        finally:
            rejects.close()
        if after_reading is not None:
            after_reading()
        if lines_total and rejects.count / lines_total > max_reject_share:
            with exclusive_lock(lock):
                written = rejects.publish(rejects_final)
            raise TooManyRejectsError(
                report=report.name,
                licensor=licensor,
                day=f"{day:%Y-%m-%d}",
                rejected=rejects.count,
                lines=lines_total,
                threshold=max_reject_share,
                rejects_path=written or rejects_final,
            )
        built = {}
        for name, sink in sinks.items():
            result = sink.finish()
            spilled = f" after {result.spilled_runs} spilled run(s)" if result.spilled_runs else ""
            say(f"sorted and wrote {name}: {result.rows:,} rows{spilled}")
            built[name] = (sink.out_path.parent, result)
        checked = _gate(layout, report, licensor, day, built, lock)
        tally = tally_rejects(report.name, licensor, day, lines_total, rejects.spool)
        tables, commits = [], []
        # The table format (pyiceberg, SQLAlchemy: ~30 MB) is imported only now, when the parse and
        # sort are done, so it adds nothing to landing's peak memory (partition_columns.py).
        from pipeline.storage.catalog_lock import lake_commit_lock
        from pipeline.storage.expiry import expire_superseded

        lake = opts.table_lake or tables_for(layout.data_dir)
        with exclusive_lock(lock), lake_commit_lock(lake.catalog_uri):
            rejects_path = rejects.publish(rejects_final)
            write_tally(rejects_final.parent, tally, staging_root=layout.staging_root)
            (rejects_final.parent / BLOCKED_FILE).unlink(missing_ok=True)
            for name, (out_dir, result) in built.items():
                staged = out_dir / PART_FILE
                size, schema = staged.stat().st_size, without_partition_columns(pq.read_schema(staged))
                commit = lake.replace_partition_file(name, licensor, day, staged)
                commits.append(commit)
                say(f"committed {name} to {lake.location} in {commit.seconds:.2f} s")
                location = commit.files[0] if commit.files else ""
                path = local_path(location) if location else None
                tables.append(
                    TableResult(
                        name, result.rows, path, size, schema, result.null_counts, checked[name], location
                    )
                )
        expiry = expire_superseded(lake, commits, opts.reader_grace_seconds)
        if expiry.expired or expiry.left_to:
            say(str(expiry))
    say(f"landed {report.name} {licensor} {day:%Y-%m-%d}: {lines_total:,} lines, {rejects.count:,} rejected")
    return LandingResult(
        report=report.name,
        licensor=licensor,
        day=day,
        tables=tuple(tables),
        lines_total=lines_total,
        rejected=rejects.count,
        rejects_path=rejects_path,
        unknown_fields=dict(sorted(parser.unknown_fields.items())),
        warnings=warnings,
        invalid_track_ids=parser.invalid_ids,
    )


def _parser(report: ReportSpec, day: date, opts: LandingOptions, field_map: FieldMap) -> Parser:
    if report.parser == "aggregated":
        return AggregatedParser(max_line_bytes=opts.max_line_bytes)
    spec = report.tables[0]
    return FlatParser(
        spec,
        max_line_bytes=opts.max_line_bytes,
        bounds=bounds_for(spec, day),
        aliases=aliases_for(spec, field_map),
    )


def _gate(
    layout: Layout,
    report: ReportSpec,
    licensor: str,
    day: date,
    built: dict[str, tuple[Path, object]],
    lock: Path,
) -> dict[str, tuple[GateOutcome, ...]]:
    """Run the blocking checks on every staged table; on a failure publish nothing and say why.
    Returns every table's outcomes (reported with the committed partition)."""
    checked = {
        name: tuple(gate_checks(TABLES_BY_NAME[name], out_dir / PART_FILE))
        for name, (out_dir, _result) in built.items()
    }
    failed = [outcome for outcomes in checked.values() for outcome in outcomes if not outcome.passed]
    if failed:
        with exclusive_lock(lock):
            directory = layout.rejects_partition(report.name, licensor, day)
            sample = write_blocked(directory, failed, staging_root=layout.staging_root)
        raise BlockedByChecksError(report.name, licensor, f"{day:%Y-%m-%d}", failed, sample)
    return checked


def _parse_files(
    parser: Parser,
    report: ReportSpec,
    files: list[Path],
    sources: list[str],
    sinks: dict[str, TableSink],
    rejects: RejectLog,
    opts: LandingOptions,
    say: Callable[[str], None],
) -> tuple[int, tuple[str, ...]]:
    """Feed every line of every file to the report's parser; return (lines, warnings).

    Blocks are prepared (Arrow-parsed) by a small thread pool a few blocks ahead, then taken in
    file order, so line numbers stay exact while parsing uses every core; the look-ahead runs
    across file boundaries, so the next file is inflated and parsed while this one finishes.
    Each file's fields are checked when it ends (`fieldcheck.py`): a required field it lacks
    everywhere fails the landing there.
    """
    lines_total = 0
    warnings: dict[str, list[str]] = {}

    def tagged() -> Iterator[tuple[int, Item | None]]:
        """Every file's blocks as one stream, tagged with the file's number; None ends a file."""
        for number, path in enumerate(files):
            for item in read_blocks(
                path,
                block_bytes=opts.block_bytes,
                max_line_bytes=opts.max_line_bytes,
                max_decompressed_bytes=opts.max_decompressed_bytes,
            ):
                yield number, item
            yield number, None

    line, records, rejected = 1, 0, rejects.count
    with ThreadPoolExecutor(max_workers=opts.parse_threads, thread_name_prefix="landing-parse") as pool:
        for number, block, prepared in prepare_ahead(tagged(), parser, pool, opts.parse_threads):
            source = sources[number]
            if block is None:  # the file's last block was taken
                for name, message in check_file(report.tables[0].name, source, parser.finish_file()).items():
                    warnings.setdefault(name, []).append(message)
                for sink in sinks.values():
                    sink.end_file()
                lines_total += records
                say(f"parsed {source}: {records:,} lines, {rejects.count - rejected:,} rejected")
                line, records, rejected = 1, 0, rejects.count
            elif isinstance(block, OverlongLine):
                reason = f"line longer than {opts.max_line_bytes:,} bytes ({block.length:,}+)"
                rejects.add([Reject.of(source, line, reason, block.head)])
                line, records = line + 1, records + 1
            else:
                result = parser.parse(block, prepared, line, source)
                for name, rows in result.tables.items():
                    sinks[name].add(rows, number)
                rejects.add(result.rejects)
                line, records = line + result.lines, records + result.records
    return lines_total, summarize_warnings(warnings)


def source_name(layout: Layout, path: Path) -> str:
    """The archive file's path relative to the data directory (POSIX), as `_source_file` holds it."""
    resolved = path.resolve()
    try:
        return resolved.relative_to(layout.data_dir.resolve()).as_posix()
    except ValueError:
        return resolved.as_posix()


def _loaded_at(value: datetime | None) -> datetime:
    if value is None:
        return datetime.now(UTC)
    if value.tzinfo is None:
        raise ValueError("loaded_at must be timezone-aware")
    return value.astimezone(UTC)
