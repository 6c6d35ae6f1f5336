"""`uv run python -m bench [--rows N ...] [--shape S ...] [--only ...] [--quick] [--write-results]`.

Measures, per day size and shape and on the same files: decompression alone (the bounds: `gzip -dc`
and single-thread ISA-L), the polars one-liner (the peer), the project's landing with pseudonyms
(the product's default), and the end-to-end Dagster run (HTTP download + land) of a zipf day; the
CLI's fixed costs from the shell; then the one-day warehouse build with short vs long history and
the top-50 tracks query. Prints a markdown table and the issue's targets; `--write-results` also
puts them into bench/RESULTS.md.
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
from typing import Any

from bench import data, report, risk, startup, warehouse
from bench.measure import Measurement, baseline_tree, combine, measure
from pipeline.emulator import EmulatorConfig
from pipeline.emulator.running import RunningEmulator

RESULTS = Path(__file__).with_name("RESULTS.md")
SECTIONS = ("landing", "e2e", "startup", "warehouse", "query")
RISK = "risk"  # its own evaluation, table and block of RESULTS.md: run only when asked (`--only risk`)


def _size(rows: int) -> str:
    """1000000 -> "1M", 3000 -> "3k": the day's size as the table shows it."""
    if rows >= 1_000_000 and rows % 1_000_000 == 0:
        return f"{rows // 1_000_000}M"
    return f"{rows / 1000:g}k" if rows >= 1000 else str(rows)


def _label(rows_per_day: int, shape: str) -> str:
    return f"{_size(rows_per_day)} {shape}"


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
        default=[2_000_000, 16_000_000],
        help="stream rows (streams + sub-30) per generated day",
    )
    parser.add_argument(
        "--shape",
        nargs="+",
        choices=data.SHAPES,
        default=["zipf", "single"],
        help="day shapes landed at every size (see EmulatorConfig.day_shape)",
    )
    parser.add_argument("--only", choices=(*SECTIONS, RISK), action="append", help="run only these sections")
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
        default=0,
        help="also run the naive pandas script up to this size, first shape only (memory grows with the day)",
    )
    parser.add_argument("--e2e-rows", type=int, default=4_000_000, help="size of the e2e day")
    parser.add_argument("--e2e-shape", choices=data.SHAPES, default="zipf", help="shape of the e2e day")
    parser.add_argument(
        "--generate-only", action="store_true", help="only generate (and time) the --rows x --shape days"
    )
    startup.add_arguments(parser)
    risk.add_arguments(parser)
    parser.add_argument("--wh-rows", type=int, default=100_000, help="stream rows per lake day (warehouse)")
    parser.add_argument(
        "--history", type=int, nargs="+", default=[7, 60, 365], help="days of history compared (first: base)"
    )
    parser.add_argument("--wh-repeat", type=int, default=3, help="one-day builds and queries timed (median)")
    parser.add_argument(
        "--wh-rounds",
        type=int,
        default=1,
        help="warehouse children per path, run round-robin across the history lengths and paths "
        "(medians across rounds): a shared machine's load then weighs on every length alike",
    )
    parser.add_argument(
        "--wh-paths",
        nargs="+",
        choices=[kind for _, kind in WAREHOUSE_PATHS],
        help="run only these warehouse paths (default: all)",
    )
    parser.add_argument(
        "--baseline", metavar="REV", help="also run landing, the e2e run and the CLI as of this git revision"
    )
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
        args.rows, args.shape, args.e2e_rows, args.wh_rows = [3000], list(data.SHAPES), 3000, 300
        args.naive_max_rows, args.history, args.wh_repeat = 3000, [2, 3], 1
        args.backfill_days, args.demo_days, args.demo_rows = 2, 1, 100
    return args


def _privacy() -> dict[str, Any]:
    """Landing as the product does by default: user ids pseudonymized."""
    return {"pseudonymize": True, "pseudonym_key": data.PSEUDONYM_KEY}


def landing(args: argparse.Namespace, rows_per_day: int, shape: str) -> list[Measurement]:
    """Bounds, peer and ours (landing alone, pseudonymized) on one day's streams files."""
    day = data.ensure_day(rows_per_day, args.workdir, shape)
    size = _label(rows_per_day, shape)
    common = {
        "files": [str(f) for f in day.files],
        "rows": day.streams,
        "day": data.DAY.isoformat(),
        "tmp_root": str(args.workdir / "tmp"),
    }
    out = [
        measure("landing", report.GZIP, size, "bound", common, repeat=args.repeat),
        measure("landing", report.ISAL, size, "bound_isal", common, repeat=args.repeat),
        measure("landing", report.PEER, size, "peer", common, repeat=args.repeat),
    ]
    if rows_per_day <= args.naive_max_rows and shape == args.shape[0]:  # its cost is the same on any shape
        out.append(measure("landing", "naive: pandas", size, "naive", common))
    ours = {**common, **_privacy()}
    out.append(measure("landing", report.LAND, size, "land", ours, repeat=args.repeat))
    if args.baseline:  # the same path with the landing code of an earlier revision: before/after
        tree = baseline_tree(args.baseline, args.workdir)
        before = f"before: land @ {args.baseline} (pseudonymized)"
        out.append(measure("landing", before, size, "land", ours, repeat=args.repeat, source=tree))
    return out


def e2e_payload(config: EmulatorConfig, emulator: RunningEmulator, workdir: Path) -> dict[str, Any]:
    """What the e2e child needs: the emulator's addresses and credential, the day, the privacy."""
    return {
        "rows": 0,
        "day": data.DAY.isoformat(),
        "licensor": data.LICENSOR,
        "client_id": config.client_id,
        "client_secret": config.client_secret,
        "bulk_api_url": emulator.bulk_api_url,
        "accounts_url": emulator.accounts_url,
        "tmp_root": str(workdir / "tmp"),
        **_privacy(),
    }


def end_to_end(args: argparse.Namespace, measured: list[Measurement]) -> list[Measurement]:
    """One Dagster run of the streams report against the emulator (served from this process), and
    `gzip -dc` of the same files (its bound) unless the landing section measured it already."""
    size = _label(args.e2e_rows, args.e2e_shape)
    day = data.ensure_day(args.e2e_rows, args.workdir, args.e2e_shape)
    out = []
    if not any(m.path == report.GZIP and m.size == size for m in measured):
        common = {"files": [str(f) for f in day.files], "rows": day.streams}
        out.append(measure("landing", report.GZIP, size, "bound", common))
    config = data.emulator_config(args.e2e_rows, args.workdir, args.e2e_shape)
    with data.RunningEmulator(config) as emulator:
        emulator.warm([data.DAY])
        payload = e2e_payload(config, emulator, args.workdir)
        out.append(measure("e2e", report.E2E, size, "e2e", payload))
        if args.baseline:  # the same run with the code of an earlier revision: before/after
            tree = baseline_tree(args.baseline, args.workdir)
            before = f"before: e2e @ {args.baseline}"
            out.append(measure("e2e", before, size, "e2e", payload, source=tree))
    return out


def warehouse_section(args: argparse.Namespace, sections: set[str]) -> list[Measurement]:
    """Per history length (lakes generated once, cached): the warehouse paths, then the query;
    `--wh-rounds` times round-robin, each path's children combined."""
    dirs = warehouse.prepare_lakes(args.workdir, args.wh_rows, sorted(set(args.history)))
    runs: dict[tuple[str, str], list[Measurement]] = {}
    for _ in range(max(args.wh_rounds, 1)):
        for days in args.history:
            size = f"{days} days"
            common = {
                "data_dir": str(dirs[days]),
                "rows": args.wh_rows,
                "repeats": args.wh_repeat,
                "days": days,
            }
            if "warehouse" in sections:
                for path, kind in WAREHOUSE_PATHS:
                    if args.wh_paths and kind not in args.wh_paths:
                        continue
                    runs.setdefault((path, size), []).append(measure("warehouse", path, size, kind, common))
            if "query" in sections:
                query = measure("query", QUERY_PATH, size, "query", {**common, "rows": 0})
                runs.setdefault((QUERY_PATH, size), []).append(query)
    return [combine(measured) for measured in runs.values()]


def _loads(values: tuple[float, ...]) -> str:
    return "/".join(f"{v:.2f}" for v in values)


def _generation(workdir: Path) -> str:
    """The days' generation times, as the workdir's cache remembers them."""
    path = workdir / data.GENERATED
    if not path.exists():
        return ""
    times = json.loads(path.read_text())
    listed = ", ".join(f"`{key}` {seconds:g}" for key, seconds in sorted(times.items()))
    return f"  \nDays generated by the emulator (wall seconds, once, then cached): {listed}"


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
        f"`rows_per_day` = size (streams + sub-30) of the named shape; wall seconds are medians of "
        f"`runs` child processes; CPU user and sys are every thread's of the measured call (a "
        f"command's: its process tree's); peak RSS is each child process's own high-water mark."
        f"{_generation(args.workdir)}"
    )


def generate_only(args: argparse.Namespace) -> None:
    """Generate the days a later run reuses, and say what each cost."""
    for rows_per_day in args.rows:
        for shape in args.shape:
            day = data.ensure_day(rows_per_day, args.workdir, shape)
            print(
                f"{_label(rows_per_day, shape)}: {day.streams:,} streams rows in {len(day.files)} files, "
                f"{day.compressed_bytes / 2**20:,.0f} MB, generated in {day.generation_seconds} s",
                flush=True,
            )


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    args = parse_args(argv)
    if args.generate_only:
        return generate_only(args)
    started = os.getloadavg()
    sections = set(args.only or SECTIONS)
    if RISK in sections:
        text = risk.section(args, argv, started)
        print(text)
        if args.write_results:
            risk.write_results(RESULTS, text)
        sections.discard(RISK)
        if not sections:
            return None
    rows: list[Measurement] = []
    if not args.from_json:
        for rows_per_day in args.rows if "landing" in sections else ():
            for shape in args.shape:
                rows += landing(args, rows_per_day, shape)
                print(report.table(rows), file=sys.stderr, flush=True)  # progress, in case a later one fails
        if "e2e" in sections:
            rows += end_to_end(args, rows)
        if "startup" in sections:
            rows += startup.section(args)
        if sections & {"warehouse", "query"}:
            rows += warehouse_section(args, sections)
    head = header(args, argv, started)
    if args.from_json:  # runs made separately (e.g. in parallel), rendered and recorded together
        rows = [Measurement(**m) for f in args.from_json for m in json.loads(f.read_text())]
        sections = {m.section for m in rows}
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
    if args.from_json:  # the histories of the rows rendered, kept ones included
        args.history = sorted({int(m.size.split()[0]) for m in rows if m.size.endswith(" days")})
    found = report.targets(rows, e2e_size=_label(args.e2e_rows, args.e2e_shape), history=args.history)
    text = report.render(rows, found, head)
    print(text)
    if args.json:
        args.json.write_text(json.dumps([asdict(m) for m in rows], indent=1))
    if args.write_results:
        report.write_results(RESULTS, text)
    return None


if __name__ == "__main__":
    main()
