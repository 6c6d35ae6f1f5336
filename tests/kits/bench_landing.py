"""Landing benchmark: `gzip -dc > /dev/null` vs `land_partition` on a generated streams file.

Usage: uv run python tests/kits/bench_landing.py ROWS [WORKDIR]
Generates (once, cached in WORKDIR) a streams file of ROWS rows, times plain decompression, then
lands it in a child process and reports seconds and the child's peak RSS.
"""

from __future__ import annotations

import json
import resource
import subprocess
import sys
import time
from datetime import date
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

DAY = date(2026, 11, 20)


def _child(data_dir: Path, archive: Path) -> None:
    from pipeline.ingest.landing import land_partition
    from pipeline.layout import Layout
    from pipeline.reports import report_by_name

    started, cpu = time.perf_counter(), time.process_time()
    result = land_partition(Layout(data_dir), report_by_name("streams"), "acme", DAY, [archive])
    seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    table = result.tables[0]
    out = {"seconds": seconds, "cpu": cpu, "peak_rss_mb": peak_mb, "rows": table.rows, "bytes": table.bytes}
    print(json.dumps(out))


def _gunzip(archive: Path) -> tuple[float, float]:
    """Wall and CPU seconds of `gzip -dc archive > /dev/null`."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    with open(archive, "rb") as source, open("/dev/null", "wb") as sink:
        subprocess.run(["gzip", "-dc"], stdin=source, stdout=sink, check=True)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)
    return time.perf_counter() - started, cpu


def main() -> None:
    rows = int(sys.argv[1])
    work = Path(sys.argv[2] if len(sys.argv) > 2 else "/tmp/landing-bench")
    data_dir = work / f"data-{rows}"
    archive = data_dir / "archive" / "streams" / "licensor=acme" / f"date={DAY}" / "US.gz"
    if not archive.exists():
        from tests.kits import ndjson as gen

        print(f"generating {rows:,} rows ...", file=sys.stderr)
        gen.write_big_streams(archive, rows)
    gunzip, gunzip_cpu = _gunzip(archive)
    out = subprocess.run(
        [sys.executable, __file__, "--child", str(data_dir), str(archive)],
        check=True,
        capture_output=True,
        text=True,
    )
    landed = json.loads(out.stdout.strip().splitlines()[-1])
    print(
        f"rows={rows:,} compressed={archive.stat().st_size / 2**20:.1f} MB "
        f"gunzip={gunzip:.2f}s (cpu {gunzip_cpu:.2f}s) "
        f"land={landed['seconds']:.2f}s (cpu {landed['cpu']:.2f}s) "
        f"ratio={landed['seconds'] / gunzip:.2f} peak_rss={landed['peak_rss_mb']:.0f} MB "
        f"parquet={landed['bytes'] / 2**20:.1f} MB"
    )


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        _child(Path(sys.argv[2]), Path(sys.argv[3]))
    else:
        main()
