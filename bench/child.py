"""One measured path, run as `python -m bench.child KIND JSON-ARGS` in a fresh process.

A fresh process per path makes peak RSS (`ru_maxrss`) that path's own. Prints one JSON line:
seconds (wall of the measured call only, imports excluded), cpu = user + sys (CPU seconds of every
thread, or of the command it ran), peak_rss_mb, rows.
"""

from __future__ import annotations

import importlib
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench import warehouse


def _bound(args: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    """`gzip -dc FILES > /dev/null`: the speed of decompression alone."""
    with open(os.devnull, "wb") as sink:
        subprocess.run(["gzip", "-dc", *args["files"]], stdout=sink, check=True)
    return args["rows"], {}


def _bound_isal(args: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    """ISA-L inflating to nothing on one thread (the `isal` package landing uses): what one landing
    thread's decompression costs at best."""
    from isal import isal_zlib

    gzip_wbits = 16 + isal_zlib.MAX_WBITS
    for name in args["files"]:
        with open(name, "rb") as fh:
            inflater = isal_zlib.decompressobj(gzip_wbits)
            while raw := fh.read(1 << 20):
                data = raw
                while data:
                    inflater.decompress(data, 4 << 20)
                    if inflater.eof:
                        data, inflater = inflater.unused_data, isal_zlib.decompressobj(gzip_wbits)
                    else:
                        data = inflater.unconsumed_tail
    return args["rows"], {}


def _peer(args: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    """The lax one-liner to beat: `pl.scan_ndjson(files).sink_parquet(out)` (inferred types, no
    rejects, no sort, no pseudonyms)."""
    import polars as pl

    out = Path(args["out_dir"]) / "peer.parquet"
    pl.scan_ndjson(args["files"]).sink_parquet(out)
    rows = pl.scan_parquet(out).select(pl.len()).collect().item()
    return rows, {"parquet_mb": round(out.stat().st_size / 2**20, 1)}


def _command(args: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    """A command as a shell runs it (`argv`, with `env` over a copy of the environment without any
    SPOTIFY_ variable, in a throwaway directory whose `data` and `dagster` the `{tmp}` placeholders
    name): the wall from start to exit."""
    tmp = args["out_dir"]
    env = {k: v for k, v in os.environ.items() if not k.startswith("SPOTIFY_")}
    env.update({k: v.replace("{tmp}", tmp) for k, v in args.get("env", {}).items()})
    done = subprocess.run(args["argv"], cwd=tmp, env=env, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(
            f"{args['argv']} exited {done.returncode}:\n{done.stdout[-2000:]}{done.stderr[-2000:]}"
        )
    return args.get("rows", 0), {}


def _naive(args: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    """What public Bulk API scripts do: gzip.decompress, json.loads per line, pandas, to_parquet."""
    import gzip

    import pandas as pd

    frames = []
    for name in args["files"]:
        text = gzip.decompress(Path(name).read_bytes()).decode("utf-8")
        frames.append(pd.DataFrame([json.loads(line) for line in text.splitlines() if line]))
    frame = pd.concat(frames, ignore_index=True)
    frame.to_parquet(Path(args["out_dir"]) / "naive.parquet")
    return len(frame), {}


def _land(args: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    """The project's landing path: parse, type, validate, sort, write Parquet (`land_partition`)."""
    from datetime import date

    from pipeline.ingest.landing import land_partition
    from pipeline.layout import Layout
    from pipeline.reports import report_by_name

    day = date.fromisoformat(args["day"])
    files = [Path(f) for f in args["files"]]
    layout, report = Layout(Path(args["out_dir"])), report_by_name("streams")
    if args.get("pseudonymize"):  # the product's default (SPOTIFY_BULK_PSEUDONYMIZE)
        from pipeline.ingest.landing import LandingOptions
        from pipeline.ingest.landing.privacy import Privacy

        options = LandingOptions(privacy=Privacy(True, args["pseudonym_key"].encode()))
        result = land_partition(layout, report, "acme", day, files, options=options)
    else:
        result = land_partition(layout, report, "acme", day, files)
    if result.rejected:  # generated days are clean: a reject is a bug in the generator or landing
        raise RuntimeError(f"landing rejected {result.rejected} lines of a generated day")
    table = result.tables[0]
    return table.rows, {"parquet_mb": round(table.bytes / 2**20, 1), "rejected": result.rejected}


def _e2e(args: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    """Download from the emulator over HTTP + land, as one Dagster run of the streams report."""
    from datetime import date

    import dagster as dg

    from pipeline.orchestration.partitions import partition_key
    from pipeline.orchestration.resources import BulkApiResource, LakeResource
    from tests.kits.settings import lake_report_assets

    streams_assets = next(a for a in lake_report_assets() if a.node_def.name == "streams_report")
    resources = {
        "bulk_api": BulkApiResource(
            client_id=args["client_id"],
            client_secret=args["client_secret"],
            base_url=args["bulk_api_url"],
            accounts_url=args["accounts_url"],
        ),
        "lake": LakeResource(
            data_dir=args["out_dir"],
            pseudonymize=bool(args.get("pseudonymize")),
            pseudonym_key=args.get("pseudonym_key", ""),
        ),
    }
    with dg.instance_for_test() as instance:
        started = time.perf_counter()
        result = dg.materialize(
            [streams_assets],
            partition_key=str(partition_key(args["licensor"], date.fromisoformat(args["day"]))),
            resources=resources,
            instance=instance,
        )
        _E2E_SECONDS.append(time.perf_counter() - started)
    if not result.success:
        raise RuntimeError("the Dagster run failed")
    rows = 0
    for event in result.get_asset_materialization_events():
        if event.asset_key == dg.AssetKey("streams"):
            rows = int(event.materialization.metadata["dagster/row_count"].value)  # type: ignore[arg-type]
    return rows, {}


_E2E_SECONDS: list[float] = []
IMPORTS = {
    "naive": ("pandas", "pyarrow.parquet"),
    "bound_isal": ("isal.isal_zlib",),
    "peer": ("polars",),
    "land": ("pipeline.ingest.landing", "pipeline.layout", "pipeline.reports"),
    "e2e": (
        "dagster",
        "assets.bulk_reports",
        "pipeline.orchestration.resources",
        "pipeline.orchestration.partitions",
    ),
    "wh_lake": ("tests.kits.bench_lakes",),
    "wh_full": ("pipeline.warehouse.build", "tests.kits.bench_lakes"),
    "wh_day": ("pipeline.warehouse.build", "tests.kits.bench_lakes"),
    "wh_retention": (
        "pipeline.warehouse.build",
        "pipeline.orchestration.retention",
        "tests.kits.bench_lakes",
    ),
    "wh_dagster": (
        "dagster",
        "pipeline.definitions",
        "pipeline.orchestration.warehouse_runs",
        "tests.kits.bench_lakes",
    ),
    "query": ("pipeline.warehouse.query", "tests.kits.bench_lakes"),
}
KINDS: dict[str, Callable[[dict[str, Any]], tuple[int, dict[str, Any]]]] = {
    "bound": _bound,
    "bound_isal": _bound_isal,
    "peer": _peer,
    "command": _command,
    "naive": _naive,
    "land": _land,
    "e2e": _e2e,
    "wh_lake": warehouse.generate_lake,
    "wh_full": warehouse.full_rebuild,
    "wh_day": warehouse.one_day_build,
    "wh_retention": warehouse.retention_day_build,
    "wh_dagster": warehouse.dagster_day,
    "query": warehouse.top_tracks_query,
}


def _warm_arrow_compute() -> None:
    """pyarrow 26 spends ~1.8 CPU-s initializing its compute module on the first kernel call in a
    process (whatever the data size); like an import, that is excluded from every measured path."""
    import pyarrow as pa
    import pyarrow.compute as pc

    pc.add(pa.array([1]), 1)


def main() -> None:
    kind, args = sys.argv[1], json.loads(sys.argv[2])
    if trace := os.environ.get("BENCH_MEMTRACE"):  # `python -m bench.memtrace`: when the peak comes
        from bench.memtrace import start_sampler

        start_sampler(trace)
    in_child = kind in ("bound", "command")  # the work happens in a process this one starts
    if tmp_root := args.get("tmp_root"):  # every caller's workdir may be fresh
        Path(tmp_root).mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=tmp_root) as out_dir:
        args["out_dir"] = out_dir
        for module in IMPORTS.get(kind, ()):  # imports are not the measured path's work
            importlib.import_module(module)
        if not in_child:
            _warm_arrow_compute()
        before = resource.getrusage(resource.RUSAGE_SELF)
        started = time.perf_counter()
        rows, extra = KINDS[kind](args)
        seconds = time.perf_counter() - started
        own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    if in_child:
        user, system, peak_kb = children.ru_utime, children.ru_stime, children.ru_maxrss
    else:  # every thread of this process, during the measured call only
        user, system = own.ru_utime - before.ru_utime, own.ru_stime - before.ru_stime
        peak_kb = own.ru_maxrss
    out = {
        "seconds": seconds,
        "cpu": user + system,
        "user": user,
        "sys": system,
        "peak_rss_mb": peak_kb / 1024,
        "rows": rows,
        **extra,
    }
    if _E2E_SECONDS:  # the Dagster run itself; the throwaway test instance's setup is excluded
        out["seconds"], out["setup_seconds"] = _E2E_SECONDS[0], seconds - _E2E_SECONDS[0]
    print(json.dumps(out))


if __name__ == "__main__":
    main()
