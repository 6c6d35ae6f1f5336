"""`spotify-bulk load`: run the load job over licensors x days and report per partition."""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Sequence
from typing import Any

from pipeline.cli.args import QUIET_LOG_LEVEL, add_window_args, dagster_log_level, window_from_args
from pipeline.cli.commands import COMMANDS
from pipeline.config import Settings, parse_licensors
from pipeline.dates import DateWindow
from pipeline.errors import UsageError
from pipeline.reports import REPORTS, ReportSpec, report_by_name

DEFAULT_WORKERS = min(2, os.cpu_count() or 1)


def add_parser(subparsers: Any) -> None:
    load = subparsers.add_parser("load", help=COMMANDS["load"])
    load.add_argument("--licensor", action="append", required=True, help="licensor (repeatable)")
    load.add_argument(
        "--report",
        action="append",
        help=f"report (repeatable; default all): {', '.join(r.name for r in REPORTS)}",
    )
    add_window_args(load)
    load.add_argument(
        "--workers",
        type=int,
        default=DEFAULT_WORKERS,
        help=f"partition runs in parallel (default {DEFAULT_WORKERS})",
    )


def reports_named(names: Sequence[str] | None) -> list[ReportSpec]:
    if not names:
        return list(REPORTS)
    try:
        return list(dict.fromkeys(report_by_name(n) for n in names))
    except ValueError as exc:
        raise UsageError(str(exc)) from None


def _print_progress(index: int, total: int, run: Any) -> None:
    rows = sum(run.rows.values())
    if run.error:
        status = f"FAILED: {run.error}"
    elif run.not_available:
        status = f"{rows:,} rows; not available yet: {', '.join(run.not_available)}"
    else:
        status = f"{rows:,} rows"
    if run.empty_files:
        status += f"; files without data: {', '.join(run.empty_files)}"
    print(f"[{index}/{total}] {run.day:%Y-%m-%d} {run.licensor}: {status} ({run.seconds:.1f} s)", flush=True)


def _check_privacy_settings(settings: Settings) -> None:
    """Fail in a second, before any run starts, when pseudonymization is on without a usable key."""
    from pipeline.ingest.landing.privacy import Privacy, PrivacyError

    privacy = settings.privacy
    try:
        Privacy(privacy.pseudonymize, privacy.key.encode("utf-8"), privacy.drop_region).check()
    except PrivacyError as exc:
        raise UsageError(str(exc)) from None


def run_load(
    settings: Settings,
    *,
    licensors: Sequence[str],
    window: DateWindow,
    reports: Sequence[ReportSpec],
    log_level: str = QUIET_LOG_LEVEL,
    workers: int = 1,
) -> int:
    """Load every (day, licensor) of the window; exit code 1 if any partition failed."""
    configured = settings.require_licensors("`spotify-bulk load`")
    unknown = [name for name in licensors if name not in configured]
    if unknown:
        raise UsageError(
            f"licensor(s) {', '.join(unknown)} not in SPOTIFY_LICENSORS ({', '.join(configured)}); "
            "add them there so the CLI, the Dagster UI and the schedule share one partition set"
        )
    _check_privacy_settings(settings)
    from pipeline.definitions import build_definitions
    from pipeline.orchestration.instance import open_instance
    from pipeline.orchestration.runs import PartitionRun, run_partitions

    instance = open_instance(settings)
    total = len(window) * len(licensors)
    names = ", ".join(r.name for r in reports)
    print(f"Loading {names} for {', '.join(licensors)} over {window} ({total} partition runs)", flush=True)
    started = time.monotonic()
    done: list[PartitionRun] = []

    def on_result(run: PartitionRun) -> None:
        done.append(run)
        _print_progress(len(done), total, run)

    runs = run_partitions(
        settings,
        build_definitions,
        instance,
        licensors=licensors,
        days=window,
        reports=reports,
        on_result=on_result,
        log_level=log_level,
        workers=workers,
    )
    failed = [r for r in runs if not r.success]
    missing = sum(1 for r in runs if r.not_available)
    rows = sum(sum(r.rows.values()) for r in runs)
    print(
        f"Done in {time.monotonic() - started:.1f} s: {len(runs) - len(failed)} of {len(runs)} partition "
        f"runs succeeded, {rows:,} rows landed"
        + (f", {missing} with reports not available yet" if missing else ""),
        flush=True,
    )
    for run in failed:
        print(
            f"error: {run.day:%Y-%m-%d} {run.licensor} failed (run {run.run_id}): {run.error}",
            file=sys.stderr,
        )
    resume = max((r.resume_after for r in runs if r.resume_after), default=None)
    if resume:
        print(
            f"Stopped: Spotify asked to wait until {resume} (UTC); {total - len(runs)} partition run(s) "
            f"not started. Run the same command again after {resume}.",
            file=sys.stderr,
        )
    return 1 if failed else 0


def run(args: argparse.Namespace, settings: Settings) -> int:
    licensors = parse_licensors(",".join(args.licensor))
    return run_load(
        settings,
        licensors=licensors,
        window=window_from_args(args),
        reports=reports_named(args.report),
        log_level=dagster_log_level(args),
        workers=max(1, args.workers),
    )
