"""Where a measured path's peak memory comes from: `python -m bench.memtrace [--rows N] [--kind e2e]`.

Runs one bench child (the e2e Dagster run by default) with a sampler thread that reads the process's
resident set (`VmRSS`), the bytes Arrow holds and what every thread is doing (the innermost
`pipeline`/`assets` function on its stack) every 50 ms, then prints the samples around the peak and
the largest resident set seen in each stage. Peak RSS alone says how much; this says when.
"""

from __future__ import annotations

import argparse
import ctypes
import ctypes.util
import json
import os
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

TRACE_ENV = "BENCH_MEMTRACE"  # a child given this path samples itself into it (JSON lines)
_OURS = (os.sep + "pipeline" + os.sep, os.sep + "assets" + os.sep)


def _resident_mb() -> float:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


class _Mallinfo2(ctypes.Structure):
    _fields_ = [
        (n, ctypes.c_size_t)
        for n in (
            "arena",
            "ordblks",
            "smblks",
            "hblks",
            "hblkhd",
            "usmblks",
            "fsmblks",
            "uordblks",
            "fordblks",
            "keepcost",
        )
    ]


def _glibc() -> Callable[[], dict[str, float]]:
    """glibc's own count of its heaps (MB): in use, free inside them, mapped apart."""
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        libc.mallinfo2.restype = _Mallinfo2
    except (OSError, AttributeError):
        return dict
    libc.fopen.restype = ctypes.c_void_p
    libc.fopen.argtypes = [ctypes.c_char_p, ctypes.c_char_p]
    libc.malloc_info.argtypes = [ctypes.c_int, ctypes.c_void_p]
    libc.fclose.argtypes = [ctypes.c_void_p]
    seen = [0.0]

    def read() -> dict[str, float]:
        rss = _resident_mb()
        if rss > seen[0] + 10 and (dump := os.environ.get(TRACE_ENV)):  # glibc's arenas at the peak
            seen[0] = rss
            fh = libc.fopen((dump + ".malloc_info.xml").encode(), b"w")
            libc.malloc_info(0, fh)
            libc.fclose(fh)
        m = libc.mallinfo2()
        return {
            "used": round(m.uordblks / 2**20, 1),
            "free": round(m.fordblks / 2**20, 1),
            "mapped": round(m.hblkhd / 2**20, 1),
        }

    return read


def _stage(frame: Any) -> str:
    """The innermost function of ours on a thread's stack (`module.function`), else its top frame's."""
    top, f = frame, frame
    while f is not None:
        if any(part in f.f_code.co_filename for part in _OURS):
            return f"{Path(f.f_code.co_filename).stem}.{f.f_code.co_name}"
        f = f.f_back
    return f"({Path(top.f_code.co_filename).stem}.{top.f_code.co_name})"


def start_sampler(path: str, interval: float = 0.05) -> threading.Event:
    """Sample into `path` until the returned event is set."""
    import pyarrow as pa

    stop, started = threading.Event(), time.perf_counter()
    me = threading.get_ident()
    heaps = _glibc()

    def sample() -> None:
        with open(path, "w") as out:
            while not stop.wait(interval):
                frames = sys._current_frames()
                names = {t.ident: t.name for t in threading.enumerate()}
                stages = {names.get(i, str(i)): _stage(f) for i, f in frames.items() if i != me}
                row = {
                    "t": round(time.perf_counter() - started, 3),
                    "rss": round(_resident_mb(), 1),
                    "arrow": round(pa.total_allocated_bytes() / 2**20, 1),
                    **heaps(),
                    "threads": stages,
                }
                out.write(json.dumps(row) + "\n")

    threading.Thread(target=sample, name="memtrace", daemon=True).start()
    return stop


def summarize(path: Path, around: int = 6) -> str:
    """The samples around the peak and the peak resident set per main-thread stage."""
    rows = [json.loads(line) for line in path.read_text().splitlines() if line]
    if not rows:
        return "no samples"
    peak = max(range(len(rows)), key=lambda i: rows[i]["rss"])
    lines = [f"{len(rows)} samples, peak {rows[peak]['rss']} MB at {rows[peak]['t']} s"]
    for r in rows[max(peak - around, 0) : peak + around + 1]:
        busy = {k: v for k, v in r["threads"].items() if not v.startswith("(threading.")}
        glibc = f"used={r.get('used')} free={r.get('free')} mapped={r.get('mapped')}"
        lines.append(f"  t={r['t']:7.2f} rss={r['rss']:6.1f} arrow={r['arrow']:6.1f} {glibc} {busy}")
    lines.append("every 0.5 s:")
    step = max(int(0.5 / max(rows[-1]["t"] / len(rows), 1e-3)), 1)
    for r in rows[::step]:
        busy = sorted({v for k, v in r["threads"].items() if not v.startswith("(thread")})
        glibc = f"used={r.get('used')} free={r.get('free')} mapped={r.get('mapped')}"
        lines.append(f"  t={r['t']:6.2f} rss={r['rss']:6.1f} arrow={r['arrow']:6.1f} {glibc} {busy}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    from bench import data
    from bench.__main__ import _privacy, e2e_payload
    from bench.measure import run_child

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=4_000_000)
    parser.add_argument("--shape", default="zipf")
    parser.add_argument("--kind", choices=("e2e", "land"), default="e2e")
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/spotify-bulk-bench"))
    parser.add_argument("--out", type=Path, default=Path("/tmp/memtrace.jsonl"))
    parser.add_argument(
        "--no-sampling",
        action="store_true",
        help="the child as the bench runs it (the sampler's thread has its own heap)",
    )
    args = parser.parse_args(argv)
    day = data.ensure_day(args.rows, args.workdir, args.shape)
    if not args.no_sampling:
        os.environ[TRACE_ENV] = str(args.out)
    if args.kind == "land":
        common: dict[str, Any] = {
            "day": data.DAY.isoformat(),
            "tmp_root": str(args.workdir / "tmp"),
            **_privacy(),
        }
        report = run_child("land", {**common, "files": [str(f) for f in day.files], "rows": day.streams})
    else:
        config = data.emulator_config(args.rows, args.workdir, args.shape)
        with data.RunningEmulator(config) as emulator:
            emulator.warm([data.DAY])
            report = run_child("e2e", e2e_payload(config, emulator, args.workdir))
    print(json.dumps(report))
    if not args.no_sampling:
        print(summarize(args.out))


if __name__ == "__main__":
    main()
