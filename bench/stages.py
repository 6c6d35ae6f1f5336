"""`uv run python -m bench.stages [--rows N ...] [--shape S ...]`: where landing's CPU goes, per stage.

Runs the real `land_partition` (pseudonymized, as the product lands) on the bench's generated
days, in a fresh process per day, with the stage functions wrapped to charge each thread's CPU
clock (`time.thread_time`) to the innermost stage running on that thread: so parse threads,
the inflate thread, the sort and write threads are all counted, nested stages are not counted
twice, and the sum is the whole landing's CPU less what no stage claims ("other": the glue,
thread hand-offs). Prints CPU-s per million stream rows per stage as a markdown table.

The wrapping costs a clock read per call (blocks of MBs, chunks of rows): well under 1 %.
"""

from __future__ import annotations

import argparse
import functools
import json
import resource
import sys
import tempfile
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from bench.measure import REPO, baseline_tree, run_module

STAGES = (
    "inflate",
    "line cutting",
    "line checks",
    "parse",
    "validation",
    "slow path",
    "pseudonyms",
    "hold",
    "sort",
    "spill/merge",
    "encode",
    "gate checks",
    "commit",
)


_WHOLE = frozenset({"commit", "gate checks"})  # stages charged whole (their Parquet reads and writes too)


class Ledger:
    """CPU seconds per stage, charged to the innermost stage running on each thread."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = defaultdict(float)
        self.hmacs = 0  # ids hashed into pseudonyms: the pseudonyms stage's cost is their number
        self._local = threading.local()
        self._lock = threading.Lock()

    def _stack(self) -> list[list[Any]]:
        stack = getattr(self._local, "stack", None)
        if stack is None:
            stack = self._local.stack = []
        return stack

    def enter(self, stage: str) -> None:
        now, stack = time.thread_time(), self._stack()
        if stack:
            self._charge(stack[-1][0], now - stack[-1][1])
            if stack[-1][0] in _WHOLE:
                stage = stack[-1][0]
        stack.append([stage, now])

    def leave(self) -> None:
        now, stack = time.thread_time(), self._stack()
        stage, started = stack.pop()
        self._charge(stage, now - started)
        if stack:
            stack[-1][1] = now

    def count_hmacs(self, ids: int) -> None:
        with self._lock:  # the sink's threads and the main thread's rejects hash ids
            self.hmacs += ids

    def _charge(self, stage: str, seconds: float) -> None:
        with self._lock:
            self.seconds[stage] += seconds

    def call(self, stage: str, function: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(function)
        def timed(*args: Any, **kwargs: Any) -> Any:
            self.enter(stage)
            try:
                return function(*args, **kwargs)
            finally:
                self.leave()

        return timed

    def generator(self, stage: str, function: Callable[..., Iterator[Any]]) -> Callable[..., Iterator[Any]]:
        """A generator function whose body's time (spent in each `next`) is charged to `stage`."""

        @functools.wraps(function)
        def timed(*args: Any, **kwargs: Any) -> Iterator[Any]:
            iterator = function(*args, **kwargs)
            while True:
                self.enter(stage)
                try:
                    item = next(iterator)
                except StopIteration:
                    return
                finally:
                    self.leave()
                yield item

        return timed


def _patch(owner: Any, name: str, wrap: Callable[[Any], Any]) -> None:
    setattr(owner, name, wrap(getattr(owner, name)))


def _counting(ledger: Ledger, digests: Callable[..., Any]) -> Callable[..., Any]:
    """`Pseudonymizer.digests`, adding the number of ids it hashes to `ledger.hmacs`."""

    @functools.wraps(digests)
    def counted(self: Any, distinct: Any) -> Any:
        ledger.count_hmacs(len(distinct))
        return digests(self, distinct)

    return counted


def instrument(ledger: Ledger) -> None:
    """Wrap the landing's stage functions where the landing looks them up."""
    import pyarrow.parquet as pq

    from pipeline.ingest.landing import flat, land, merge, reader, sink
    from pipeline.ingest.landing.personal import PersonalData
    from pipeline.ingest.landing.privacy import Pseudonymizer
    from pipeline.storage.tables import TableLake

    _patch(reader, "inflate", lambda f: ledger.generator("inflate", f))
    _patch(reader, "cut_lines", lambda f: ledger.generator("line cutting", f))
    for name in ("_matches", "has_line_longer_than", "count_lines"):
        _patch(flat, name, lambda f: ledger.call("line checks", f))
    _patch(flat.FlatParser, "_parse_as", lambda f: ledger.call("parse", f))
    _patch(flat.FlatParser, "prepare", lambda f: ledger.call("validation", f))
    _patch(flat.FlatParser, "parse", lambda f: ledger.call("validation", f))
    _patch(flat.FlatParser, "_slow", lambda f: ledger.call("slow path", f))
    _patch(PersonalData, "apply", lambda f: ledger.call("pseudonyms", f))
    if hasattr(Pseudonymizer, "digests"):  # a baseline's landing code may not count them
        _patch(Pseudonymizer, "digests", lambda f: _counting(ledger, f))
    _patch(sink.TableSink, "add", lambda f: ledger.call("hold", f))
    for module in (sink, merge):
        _patch(module, "sort_table", lambda f: ledger.call("sort", f))

    class SortPool(ThreadPoolExecutor):  # sort_table reorders columns in pool threads
        def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Any:
            return super().submit(ledger.call("sort", fn), *args, **kwargs)

    merge.ThreadPoolExecutor = SortPool  # type: ignore[misc]
    for name in ("write_run", "merge_runs", "reduce_runs"):
        wrap = ledger.generator if name == "merge_runs" else ledger.call
        _patch(merge, name, lambda f, w=wrap: w("spill/merge", f))
        if hasattr(sink, name):
            setattr(sink, name, getattr(merge, name))
    _patch(sink.RunWriter, "write", lambda f: ledger.call("spill/merge", f))
    _patch(sink.Lineage, "apply", lambda f: ledger.call("encode", f))
    for name in ("write_table", "close"):
        _patch(pq.ParquetWriter, name, lambda f: ledger.call("encode", f))
    _patch(land, "gate_checks", lambda f: ledger.call("gate checks", f))
    _patch(TableLake, "replace_partition_file", lambda f: ledger.call("commit", f))


def profile(files: list[Path], day: str, key: str, out_dir: Path) -> dict[str, Any]:
    """Land `files` once, instrumented; CPU seconds per stage, the process's total, wall, rows."""
    from datetime import date

    from bench.child import _warm_arrow_compute
    from pipeline.ingest.landing import LandingOptions, land_partition
    from pipeline.ingest.landing.privacy import Privacy
    from pipeline.layout import Layout
    from pipeline.reports import report_by_name

    ledger = Ledger()
    instrument(ledger)
    _warm_arrow_compute()
    options = LandingOptions(privacy=Privacy(True, key.encode()))
    before, started = resource.getrusage(resource.RUSAGE_SELF), time.perf_counter()
    result = land_partition(
        Layout(out_dir), report_by_name("streams"), "acme", date.fromisoformat(day), files, options=options
    )
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_SELF)
    user, system = after.ru_utime - before.ru_utime, after.ru_stime - before.ru_stime
    return {
        "stages": dict(ledger.seconds),
        "user": user,
        "sys": system,
        "seconds": wall,
        "rows": result.tables[0].rows,
        "peak_rss_mb": after.ru_maxrss / 1024,
        "hmacs": ledger.hmacs or None,  # None: the landing code measured does not count them
    }


def run(rows_per_day: int, shape: str, workdir: Path, source: Path = REPO) -> dict[str, Any]:
    """One day's profile, in a fresh process (`python -m bench.stages --child`) importing the
    `pipeline` of `source` (a baseline checkout for "before")."""
    from bench import data

    bench_day = data.ensure_day(rows_per_day, workdir, shape)
    files = [str(f) for f in bench_day.files]
    args = {"files": files, "day": data.DAY.isoformat(), "key": data.PSEUDONYM_KEY}
    return run_module("bench.stages", ["--child", json.dumps(args), "--workdir", str(workdir)], source=source)


def table(results: dict[str, dict[str, Any]]) -> str:
    """Markdown: CPU-s per million stream rows, a column per day, a row per stage."""
    labels = list(results)
    lines = [
        "| stage (CPU-s per 1 M stream rows) | " + " | ".join(labels) + " |",
        "|---|" + "---:|" * len(labels),
    ]

    def per_million(result: dict[str, Any], seconds: float) -> str:
        return f"{seconds / result['rows'] * 1e6:.2f}"

    for stage in STAGES:
        if any(result["stages"].get(stage, 0.0) > 0.0005 for result in results.values()):
            cells = [per_million(r, r["stages"].get(stage, 0.0)) for r in results.values()]
            lines.append(f"| {stage} | " + " | ".join(cells) + " |")
    others = [per_million(r, r["user"] + r["sys"] - sum(r["stages"].values())) for r in results.values()]
    lines.append("| other (unclaimed: glue, hand-offs) | " + " | ".join(others) + " |")
    totals = [per_million(r, r["user"] + r["sys"]) for r in results.values()]
    lines.append("| **total (user + sys)** | " + " | ".join(f"**{t}**" for t in totals) + " |")
    ratios = [f"{r['sys'] / r['user']:.2f}" for r in results.values()]
    lines.append("| sys / user | " + " | ".join(ratios) + " |")
    lines.append("| wall s | " + " | ".join(f"{r['seconds']:.2f}" for r in results.values()) + " |")
    lines.append("| peak RSS MB | " + " | ".join(f"{r['peak_rss_mb']:.0f}" for r in results.values()) + " |")
    lines.append("| stream rows | " + " | ".join(f"{r['rows']:,}" for r in results.values()) + " |")
    hmacs = [f"{r['hmacs']:,}" if r.get("hmacs") else "-" for r in results.values()]
    lines.append("| HMACs (ids hashed into pseudonyms) | " + " | ".join(hmacs) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.stages", description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, nargs="+", default=[2_000_000])
    parser.add_argument("--shape", nargs="+", default=["zipf", "single"])
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/spotify-bulk-bench"))
    parser.add_argument("--json", type=Path, help="also write the profiles as JSON here")
    parser.add_argument("--baseline", metavar="REV", help="also profile the landing code of revision REV")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        child = json.loads(args.child)
        (args.workdir / "tmp").mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=args.workdir / "tmp") as out_dir:
            files = [Path(f) for f in child["files"]]
            print(json.dumps(profile(files, child["day"], child["key"], Path(out_dir))))
        return
    from bench.__main__ import _label

    results = {}
    for rows_per_day in args.rows:
        for shape in args.shape:
            label = _label(rows_per_day, shape)
            if args.baseline:  # before and after side by side, one after the other in the same run
                tree = baseline_tree(args.baseline, args.workdir)
                results[f"{label} @ {args.baseline}"] = run(rows_per_day, shape, args.workdir, tree)
            results[label] = run(rows_per_day, shape, args.workdir)
            print(f"bench.stages: {_label(rows_per_day, shape)} done", file=sys.stderr, flush=True)
    if args.json:
        args.json.write_text(json.dumps(results, indent=1))
    print(table(results))


if __name__ == "__main__":
    main()
