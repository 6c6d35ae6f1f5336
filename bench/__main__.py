"""`uv run python -m bench [--rows N ...] [--only ...] [--quick] [--write-results]`.

Measures, per day size and on the same files: decompression alone (the bound), the naive pandas
script, the project's landing, and the end-to-end Dagster run (HTTP download + land); then the
one-day warehouse build with short vs long history and the top-50 tracks query. Prints a markdown
table and the issue's targets; `--write-results` also puts them into bench/RESULTS.md.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shlex
import sys
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path

from bench import data, report, warehouse
from bench.measure import Measurement, baseline_tree, measure

RESULTS = Path(__file__).with_name("RESULTS.md")
SECTIONS = ("landing", "e2e", "warehouse", "query")


def _size(rows: int) -> str:
    """1000000 -> "1M", 3000 -> "3k": the day's size as the table shows it."""
    if rows >= 1_000_000 and rows % 1_000_000 == 0:
        return f"{rows // 1_000_000}M"
    return f"{rows / 1000:g}k" if rows >= 1000 else str(rows)


WAREHOUSE_PATHS = (  # (path as the table names it, child kind), in the order they run per history
    ("full rebuild", "wh_full"),
    ("one-day build", "wh_day"),
    ("one-day build after retention", "wh_retention"),
    ("one-day Dagster warehouse_job", "wh_dagster"),
)
QUERY_PATH = "top-50 tracks (fct_track_performance)"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.split("\n\n")[1])
    parser.add_argument(
        "--rows",
        type=int,
        nargs="+",
        default=[1_000_000, 4_000_000, 16_000_000],
        help="stream rows (streams + sub-30) per generated day",
    )
    parser.add_argument("--only", choices=SECTIONS, action="append", help="run only these sections")
    parser.add_argument("--quick", action="store_true", help="tiny sizes: the smoke test's run")
    parser.add_argument(
        "--workdir",
        type=Path,
        default=Path("/tmp/spotify-bulk-bench"),
        help="caches generated days and lakes across runs (outside the repo)",
    )
    parser.add_argument("--repeat", type=int, default=1, help="child runs per landing path (median)")
    parser.add_argument(
        "--naive-max-rows",
        type=int,
        default=4_000_000,
        help="skip the naive script above this size (its memory grows with the day)",
    )
    parser.add_argument(
        "--generate-max",
        type=int,
        default=4_000_000,
        help="larger days repeat the files of a generated one (see bench/data.py)",
    )
    parser.add_argument("--e2e-rows", type=int, default=4_000_000, help="size the e2e target is judged at")
    parser.add_argument("--wh-rows", type=int, default=100_000, help="stream rows per lake day (warehouse)")
    parser.add_argument(
        "--history", type=int, nargs="+", default=[7, 60, 365], help="days of history compared (first: base)"
    )
    parser.add_argument("--wh-repeat", type=int, default=3, help="one-day builds and queries timed (median)")
    parser.add_argument(
        "--wh-paths",
        nargs="+",
        choices=[kind for _, kind in WAREHOUSE_PATHS],
        help="run only these warehouse paths (default: all)",
    )
    parser.add_argument("--baseline", metavar="REV", help="also land with `pipeline` as of this git revision")
    parser.add_argument("--json", type=Path, help="also write the measurements as JSON here")
    parser.add_argument(
        "--from-json",
        type=Path,
        nargs="+",
        metavar="JSON",
        help="measure nothing: render (and with --write-results, record) the rows of earlier --json runs",
    )
    parser.add_argument("--write-results", action="store_true", help="update bench/RESULTS.md")
    args = parser.parse_args(argv)
    if args.quick:
        args.rows, args.e2e_rows, args.wh_rows = [3000], 3000, 300
        args.history, args.wh_repeat = [2, 3], 1
    return args


def landing(args: argparse.Namespace, rows_per_day: int) -> list[Measurement]:
    """bound, naive and ours (landing alone) on one day's streams files."""
    day = data.ensure_day(rows_per_day, args.workdir, generate_max=args.generate_max)
    size = _size(rows_per_day) + (
        f" (= {_size(day.derived_from)} x{rows_per_day // day.derived_from})" if day.derived_from else ""
    )
    common = {
        "files": [str(f) for f in day.files],
        "rows": day.streams,
        "day": data.DAY.isoformat(),
        "tmp_root": str(args.workdir / "tmp"),
    }
    out = [
        measure("landing", "bound: gzip -dc", size, "bound", common, repeat=args.repeat),
        measure("landing", "bound: python zlib", size, "bound_python", common, repeat=args.repeat),
    ]
    if rows_per_day <= args.naive_max_rows:
        out.append(measure("landing", "naive: pandas", size, "naive", common))
    out.append(measure("landing", "ours: land", size, "land", common, repeat=args.repeat))
    if args.baseline:  # the same path with the landing code of an earlier revision: before/after
        tree = baseline_tree(args.baseline, args.workdir)
        before = f"before: land @ {args.baseline}"
        out.append(measure("landing", before, size, "land", common, repeat=args.repeat, source=tree))
    return out


def end_to_end(args: argparse.Namespace, rows_per_day: int) -> Measurement:
    """One Dagster run of the streams report against the emulator (served from this process)."""
    config = data.emulator_config(rows_per_day, args.workdir)
    with data.RunningEmulator(config) as emulator:
        emulator.warm([data.DAY])
        payload = {
            "rows": 0,
            "day": data.DAY.isoformat(),
            "licensor": data.LICENSOR,
            "client_id": config.client_id,
            "client_secret": config.client_secret,
            "bulk_api_url": emulator.bulk_api_url,
            "accounts_url": emulator.accounts_url,
            "tmp_root": str(args.workdir / "tmp"),
        }
        return measure(
            "e2e", "ours: e2e (Dagster, HTTP download + land)", _size(rows_per_day), "e2e", payload
        )


def warehouse_section(args: argparse.Namespace, sections: set[str]) -> list[Measurement]:
    """Per history length (lakes generated once, cached): the warehouse paths, then the query."""
    dirs = warehouse.prepare_lakes(args.workdir, args.wh_rows, sorted(set(args.history)))
    out = []
    for days in args.history:
        common = {"data_dir": str(dirs[days]), "rows": args.wh_rows, "repeats": args.wh_repeat, "days": days}
        if "warehouse" in sections:
            for path, kind in WAREHOUSE_PATHS:
                if args.wh_paths and kind not in args.wh_paths:
                    continue
                out.append(measure("warehouse", path, f"{days} days", kind, common))
        if "query" in sections:
            out.append(measure("query", QUERY_PATH, f"{days} days", "query", {**common, "rows": 0}))
    return out


def _loads(values: tuple[float, ...]) -> str:
    return "/".join(f"{v:.2f}" for v in values)


def header(args: argparse.Namespace, argv: list[str], started: tuple[float, ...]) -> str:
    import duckdb
    import polars
    import pyarrow

    command = shlex.join(["uv", "run", "python", "-m", "bench", *argv])
    end = os.getloadavg()
    return (
        f"Command: `{command}`  \n"
        f"Run finished: {datetime.now(UTC):%Y-%m-%d %H:%M} UTC on {platform.node() or 'this machine'}, "
        f"{os.cpu_count()} cores (`os.cpu_count()`), load average (1/5/15 min) at start "
        f"{_loads(started)}, at end {_loads(end)}  \n"
        f"Python {platform.python_version()}, pyarrow {pyarrow.__version__}, polars {polars.__version__}, "
        f"duckdb {duckdb.__version__}; landing/e2e rows are the streams report's rows of a day with "
        f"`rows_per_day` = size (streams + sub-30); wall seconds are medians of `runs` child processes; "
        f"peak RSS is each child process's own high-water mark."
    )


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    args = parse_args(argv)
    started = os.getloadavg()
    sections = set(args.only or SECTIONS)
    (args.workdir / "tmp").mkdir(parents=True, exist_ok=True)
    rows: list[Measurement] = []
    for rows_per_day in [] if args.from_json else args.rows:
        if "landing" in sections:
            rows += landing(args, rows_per_day)
        if "e2e" in sections and rows_per_day <= args.generate_max:  # the emulator serves generated days
            if "landing" not in sections:  # the ratio needs the bound of the same bytes
                day = data.ensure_day(rows_per_day, args.workdir)
                common = {"files": [str(f) for f in day.files], "rows": day.streams}
                rows.append(measure("landing", "bound: gzip -dc", _size(rows_per_day), "bound", common))
            rows.append(end_to_end(args, rows_per_day))
        print(report.table(rows), file=sys.stderr, flush=True)  # progress, in case a later size fails
    if sections & {"warehouse", "query"} and not args.from_json:
        rows += warehouse_section(args, sections)
    head = header(args, argv, started)
    if args.from_json:  # runs made separately (e.g. in parallel), rendered and recorded together
        rows = [Measurement(**m) for f in args.from_json for m in json.loads(f.read_text())]
        sections = {m.section for m in rows}
        args.history = sorted({int(m.size.split()[0]) for m in rows if m.size.endswith(" days")})
        saved = ", ".join(str(f) for f in args.from_json)
        head += f"  \nRows measured by separate runs, saved with `--json`: {saved}"
    kept = set(SECTIONS) - sections
    if args.write_results and kept:  # sections not run keep their rows of the previous run
        previous, previous_head = report.previous_rows(RESULTS, kept)
        if previous:
            rows = previous + rows
            names = ", ".join(sorted({m.section for m in previous}))
            quoted = previous_head.replace("\n", "\n> ")
            head += f"\n\nThe {names} rows are kept from the previous run (not re-run here):\n> {quoted}"
    found = report.targets(rows, e2e_size=_size(args.e2e_rows), history=args.history)
    text = report.render(rows, found, head)
    print(text)
    if args.json:
        args.json.write_text(json.dumps([asdict(m) for m in rows], indent=1))
    if args.write_results:
        report.write_results(RESULTS, text)


if __name__ == "__main__":
    main()
