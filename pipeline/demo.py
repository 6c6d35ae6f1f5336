"""`spotify-bulk demo`: the whole pipeline on the embedded emulator, in one command.

Starts the emulator on a free loopback port, points this process's settings at it (the pipeline
itself does not know it is talking to an emulator), loads the last N days for the demo licensors
through the Dagster job, enriches the catalog from the Web API, builds the warehouse, and prints
what landed and where.
"""

from __future__ import annotations

import os
import time

from pipeline.dates import resolve_window
from pipeline.emulator import EmulatorConfig, start_emulator
from pipeline.enrich import EnrichSummary, named_tracks, print_summary, run_enrich
from pipeline.lake_summary import format_summary, summarize_lake
from pipeline.layout import Layout
from pipeline.loads import run_load
from pipeline.reports import REPORTS
from pipeline.settings import DEMO_PSEUDONYM_KEY, PSEUDONYM_KEY_ENV, Settings
from pipeline.warehouse.build import build_warehouse
from pipeline.warehouse.cli import print_build
from pipeline.warehouse.query import top_tracks_table


def run_demo(*, days: int, rows_per_day: int) -> int:
    settings = Settings.from_env()
    layout = Layout(settings.data_dir.resolve())
    config = EmulatorConfig(rows_per_day=rows_per_day, cache_dir=layout.data_dir / ".emulator-cache")
    started = time.monotonic()
    with start_emulator(config) as emulator:
        print(f"Spotify emulator listening on {emulator.base_url}", flush=True)
        os.environ.update(
            {
                "SPOTIFY_BULK_API_URL": emulator.bulk_api_url,
                "SPOTIFY_ACCOUNTS_URL": emulator.accounts_url,
                "SPOTIFY_WEB_API_URL": emulator.web_api_url,
                "SPOTIFY_CLIENT_ID": config.client_id,
                "SPOTIFY_CLIENT_SECRET": config.client_secret,
                "SPOTIFY_LICENSORS": ",".join(config.licensors),
                "SPOTIFY_BULK_DATA_DIR": str(layout.data_dir),
            }
        )
        # The emulator enforces no rate limit: a budget for it, not the real API's (default 150 per 30 s).
        os.environ["SPOTIFY_WEB_API_RATE_LIMIT"] = "1000"
        os.environ.setdefault(PSEUDONYM_KEY_ENV, DEMO_PSEUDONYM_KEY)  # synthetic listeners: a public key
        window = resolve_window(start=str(days), end=str(config.lag_days))
        code = run_load(licensors=config.licensors, window=window, reports=REPORTS, workers=2)
        enrichments: list[EnrichSummary] = []
        if code == 0:
            # Twice: the second run shows the incremental cost when nothing is new (no requests).
            for label in ("Enriching the catalog from the Web API...", "Enriching again (nothing new)..."):
                print(f"\n{label}", flush=True)
                enrichments.append(run_enrich())
                print_summary(enrichments[-1])
            code = 0 if all(e.success for e in enrichments) else 1
    print()
    print(f"Lake at {layout.lake_root}:")
    print(format_summary(summarize_lake(layout)))
    if code == 0:
        print("\nBuilding the warehouse...", flush=True)
        built = build_warehouse(layout)
        print_build(built)
        code = 0 if built.passed else 1
        if built.passed:
            print()
            print(top_tracks_table(layout))
            streamed, named = named_tracks(layout)
            share = named / streamed if streamed else 0.0
            print(
                f"\nCatalog: {named:,} of {streamed:,} streamed tracks ({share:.2%}) have a name and artists "
                "in the marts; Web API requests per enrichment run: "
                + ", ".join(f"{e.requests:,}" for e in enrichments)
                + " (first run, then a re-run with nothing new)"
            )
    print(f"\nDemo finished in {time.monotonic() - started:.1f} s (exit code {code}).")
    print("Next steps:")
    print("  uv run dagster dev                      # the Dagster UI: runs, assets, checks, schedule")
    print("  uv run spotify-bulk dashboard           # the dashboard on http://127.0.0.1:8501/")
    print('  uv run spotify-bulk query "SELECT * FROM fct_track_performance LIMIT 5"')
    print("  uv run spotify-bulk sql                 # a read-only SQL prompt over the warehouse")
    return code
