"""`spotify-bulk load`: run the load job over licensors x days and report per partition."""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Sequence

from pipeline.dates import DateWindow
from pipeline.errors import UsageError
from pipeline.partitions import configured_licensors
from pipeline.reports import ReportSpec
from pipeline.runner import PartitionRun, run_partitions
from pipeline.settings import PSEUDONYM_KEY_ENV, privacy_flags


def _print_progress(index: int, total: int, run: PartitionRun) -> None:
    rows = sum(run.rows.values())
    if run.error:
        status = f"FAILED: {run.error}"
    elif run.not_available:
        status = f"{rows:,} rows; not available yet: {', '.join(run.not_available)}"
    else:
        status = f"{rows:,} rows"
    print(f"[{index}/{total}] {run.day:%Y-%m-%d} {run.licensor}: {status} ({run.seconds:.1f} s)", flush=True)


def _check_privacy_settings() -> None:
    """Fail in a second, before any run starts, when pseudonymization is on without a usable key."""
    from pipeline.landing.privacy import Privacy, PrivacyError

    try:
        pseudonymize, drop_region = privacy_flags()
        key = os.environ.get(PSEUDONYM_KEY_ENV, "").encode("utf-8")
        Privacy(pseudonymize, key, drop_region).check()
    except (ValueError, PrivacyError) as exc:
        raise UsageError(str(exc)) from None


def run_load(
    *,
    licensors: Sequence[str],
    window: DateWindow,
    reports: Sequence[ReportSpec],
    log_level: str = "WARNING",
    workers: int = 1,
) -> int:
    """Load every (day, licensor) of the window; exit code 1 if any partition failed."""
    configured = configured_licensors()
    unknown = [name for name in licensors if name not in configured]
    if unknown:
        raise UsageError(
            f"licensor(s) {', '.join(unknown)} not in SPOTIFY_LICENSORS ({', '.join(configured)}); "
            "add them there so the CLI, the Dagster UI and the schedule share one partition set"
        )
    _check_privacy_settings()
    from pipeline.definitions import defs
    from pipeline.instance import open_instance

    instance = open_instance()
    total = len(window) * len(licensors)
    names = ", ".join(r.name for r in reports)
    print(f"Loading {names} for {', '.join(licensors)} over {window} ({total} partition runs)", flush=True)
    started = time.monotonic()
    done: list[PartitionRun] = []

    def on_result(run: PartitionRun) -> None:
        done.append(run)
        _print_progress(len(done), total, run)

    runs = run_partitions(
        defs,
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
    return 1 if failed else 0
