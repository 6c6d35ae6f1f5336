"""Running one path in a child process and collecting what it reports."""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class Measurement:
    """One path at one size: medians over `runs` child processes (peak RSS: the largest)."""

    section: str  # "landing", "e2e", "warehouse", "query"
    path: str  # e.g. "bound", "naive", "ours: land", "ours: e2e"
    size: str  # e.g. "1M" (stream rows generated for the day), "60 days"
    rows: int
    seconds: float
    cpu: float
    peak_rss_mb: float
    load: float  # 1-minute load average when the path started
    runs: int
    user: float = 0.0  # CPU seconds in user mode (0: not recorded, e.g. rows of older runs)
    sys: float = 0.0  # CPU seconds in the kernel
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def rows_per_second(self) -> float:
        return self.rows / self.seconds if self.seconds > 0 else 0.0


def run_child(kind: str, args: dict[str, Any], *, source: Path = REPO) -> dict[str, Any]:
    """Run `bench.child KIND` in a fresh interpreter; its last stdout line is a JSON report.

    `source` is the tree whose `pipeline` package is imported (a baseline checkout for "before").
    """
    return run_module("bench.child", [kind, json.dumps(args)], source=source)


def run_module(module: str, argv: list[str], *, source: Path = REPO) -> dict[str, Any]:
    """`python -m MODULE ARGV...` in a fresh interpreter importing `source`'s packages; the JSON
    report on its last stdout line."""
    env = {**os.environ, "DAGSTER_TELEMETRY_DISABLED": "1", "PYTHONPATH": str(source)}
    done = subprocess.run(
        [sys.executable, "-m", module, *argv],
        cwd=source,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"{module} {argv[0] if argv else ''} failed:\n{done.stderr[-4000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def measure(
    section: str,
    path: str,
    size: str,
    kind: str,
    args: dict[str, Any],
    *,
    repeat: int = 1,
    source: Path = REPO,
) -> Measurement:
    """Median of `repeat` child runs of `kind` (each in its own process)."""
    load, started = os.getloadavg()[0], time.perf_counter()
    reports = [run_child(kind, args, source=source) for _ in range(repeat)]
    took = time.perf_counter() - started
    print(f"bench: {section} {size} {path}: {took:.1f} s with process start", file=sys.stderr, flush=True)
    seconds = statistics.median(r["seconds"] for r in reports)
    known = {"seconds", "cpu", "user", "sys", "peak_rss_mb", "rows"}
    extra = {k: v for k, v in reports[-1].items() if k not in known}
    return Measurement(
        section=section,
        path=path,
        size=size,
        rows=int(reports[-1]["rows"]),
        seconds=seconds,
        cpu=statistics.median(r["cpu"] for r in reports),
        peak_rss_mb=max(r["peak_rss_mb"] for r in reports),
        load=load,
        runs=repeat,
        user=statistics.median(r.get("user", 0.0) for r in reports),
        sys=statistics.median(r.get("sys", 0.0) for r in reports),
        extra=extra,
    )


def combine(measured: list[Measurement]) -> Measurement:
    """One path's measurements of several rounds as one: medians (peak RSS: the largest; extra
    numbers: the median where every round has one), the load when the first round started."""
    if len(measured) == 1:
        return measured[0]
    last = measured[-1]
    extra = dict(last.extra)
    for key, value in last.extra.items():
        values = [m.extra.get(key) for m in measured]
        if isinstance(value, int | float) and all(isinstance(v, int | float) for v in values):
            extra[key] = statistics.median(values)  # type: ignore[type-var]
    extra["rounds"] = len(measured)
    return Measurement(
        section=last.section,
        path=last.path,
        size=last.size,
        rows=last.rows,
        seconds=statistics.median(m.seconds for m in measured),
        cpu=statistics.median(m.cpu for m in measured),
        peak_rss_mb=max(m.peak_rss_mb for m in measured),
        load=measured[0].load,
        runs=sum(m.runs for m in measured),
        user=statistics.median(m.user for m in measured),
        sys=statistics.median(m.sys for m in measured),
        extra=extra,
    )


# What the CLI, landing and the e2e child import (the e2e child builds its assets with tests/kits).
BASELINE_PATHS = ("pipeline", "assets", "sql", "dagster.yaml", "tests")


def baseline_tree(rev: str, workdir: Path) -> Path:
    """The project's code as of git revision `rev` (exported once), plus a link to this `bench`."""
    target = workdir / f"baseline-{rev}"
    done = target / ".exported"
    if not done.exists():
        subprocess.run(["rm", "-rf", str(target)], check=True)
        target.mkdir(parents=True)
        archive = subprocess.run(
            ["git", "archive", rev, *BASELINE_PATHS], cwd=REPO, capture_output=True, check=True
        )
        subprocess.run(["tar", "-x", "-C", str(target)], input=archive.stdout, check=True)
        (target / "bench").symlink_to(REPO / "bench")
        done.touch()
    elif not (target / "tests").exists():  # exported before the e2e child needed tests/kits
        subprocess.run(["rm", "-rf", str(target)], check=True)
        return baseline_tree(rev, workdir)
    return target
