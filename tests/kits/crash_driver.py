"""The loader the crash trials SIGKILL: every report of one licensor-day, then a warehouse build.

Run as `python -m tests.kits.crash_driver DATA_DIR LICENSOR DAY` with the emulator's
addresses and credentials in the usual environment variables. It prints `phase <name> <seconds>`
before each download, landing and the build (and `done` at the end), so the test can aim its kill
at a phase. `run` is the same sequence in-process, for the clean reference and the re-runs.
"""

from __future__ import annotations

import asyncio
import os
import sys
import time
from collections.abc import Callable
from datetime import date
from pathlib import Path

from pipeline.clients.bulk_api import BulkApiClient
from pipeline.clients.connection import Connection
from pipeline.clients.http import RetryPolicy
from pipeline.ingest.landing import LandingOptions
from pipeline.ingest.landing.privacy import Privacy
from pipeline.ingest.load import load_report
from pipeline.layout import Layout
from pipeline.reports import REPORTS
from pipeline.warehouse.build import build_warehouse

Mark = Callable[[str], None]
KEY = b"crash-trial-pseudonym-key-0123"


async def _load(layout: Layout, licensor: str, day: date, mark: Mark) -> None:
    env = os.environ
    options = LandingOptions(privacy=Privacy(pseudonymize=True, key=KEY))
    connection = Connection(
        env["SPOTIFY_BULK_API_URL"],
        env["SPOTIFY_ACCOUNTS_URL"],
        client_id=env["SPOTIFY_CLIENT_ID"],
        client_secret=env["SPOTIFY_CLIENT_SECRET"],
    )
    async with BulkApiClient(
        connection,
        retry=RetryPolicy(max_attempts=4, base_delay=0.05, max_delay=0.2),
    ) as client:
        for report in REPORTS:
            mark(f"download-{report.name}")

            def progress(message: str, name: str = report.name) -> None:
                if message.startswith("staged"):  # downloaded; landing reads them, then archives
                    mark(f"landing-{name}")

            await load_report(client, layout, report, licensor, day, progress=progress, options=options)


def run(data_dir: Path, licensor: str, day: date, mark: Mark | None = None) -> None:
    """Load every report of the day, then build the warehouse (what a crash interrupts)."""
    say = mark or (lambda _phase: None)
    layout = Layout(data_dir)
    asyncio.run(_load(layout, licensor, day, say))
    say("build")
    result = build_warehouse(layout)
    if not result.passed:
        raise SystemExit(f"build checks failed: {result.failed_checks}")


def main() -> None:
    data_dir, licensor, day = Path(sys.argv[1]), sys.argv[2], date.fromisoformat(sys.argv[3])
    started = time.monotonic()

    def mark(phase: str) -> None:
        print(f"phase {phase} {time.monotonic() - started:.4f}", flush=True)

    run(data_dir, licensor, day, mark)
    mark("done")


if __name__ == "__main__":
    main()
