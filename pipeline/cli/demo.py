"""`spotify-bulk demo`: the whole pipeline on the embedded emulator, in one command.

Starts the emulator on a free loopback port (in a process of its own: its serving and the
pipeline's requests use two cores), builds settings that point at it (the pipeline
itself does not know it is talking to an emulator), loads the last N days for the demo licensors
through the Dagster job, enriches the catalog from the Web API, builds the warehouse (each a
Dagster run, in the UI's run history), and prints what landed and where.
"""

from __future__ import annotations

import argparse
import time
from dataclasses import replace
from datetime import timedelta
from typing import Any

from pipeline.cli.args import QUIET_LOG_LEVEL, dagster_log_level
from pipeline.cli.build import print_build
from pipeline.cli.commands import COMMANDS
from pipeline.cli.enrich import print_summary
from pipeline.cli.load import run_load
from pipeline.cli.risk import format_flagged
from pipeline.clients.connection import Connection
from pipeline.config import DEMO_PSEUDONYM_KEY, PrivacySettings, Settings
from pipeline.dates import resolve_window
from pipeline.definitions import build_definitions
from pipeline.emulator import EmulatorConfig, RunningEmulator
from pipeline.emulator.fraud import FraudPlan
from pipeline.emulator.process import EmulatorProcess, emulator_process
from pipeline.errors import UsageError
from pipeline.ingest.summary import format_summary, summarize_lake
from pipeline.layout import Layout
from pipeline.orchestration.catalog_runs import EnrichSummary, run_enrich
from pipeline.orchestration.instance import dagster_dev_command
from pipeline.orchestration.warehouse_runs import run_build
from pipeline.reports import REPORTS
from pipeline.risk.report import flagged_tracks
from pipeline.warehouse.options import WarehouseOptions
from pipeline.warehouse.query import named_tracks, top_tracks_table

# The embedded emulator enforces no rate limit (429s only as injected faults), and a development-mode
# app asks one id per request (thousands in the demo): a budget that stays out of the way. Real
# credentials keep the real API's budget (SPOTIFY_WEB_API_RATE_LIMIT, 150 per 30 s).
DEMO_WEB_API_RATE_LIMIT = 100_000


def add_parser(subparsers: Any) -> None:
    demo = subparsers.add_parser("demo", help=COMMANDS["demo"])
    demo.add_argument("--days", type=int, default=7, help="days to load (default 7)")
    demo.add_argument("--rows-per-day", type=int, default=3000, help="stream rows per licensor-day")
    demo.add_argument(
        "--with-fraud",
        action="store_true",
        help="inject labelled artificial streaming (bot farm, playlist farm, lockstep ring) and its genuine "
        "look-alikes into the last two days; then see `spotify-bulk risk` (docs/risk.md)",
    )
    demo.add_argument(
        "--distributed",
        action="store_true",
        help="the same demo on loopback servers: an Iceberg lake in SeaweedFS (S3), Dagster on PostgreSQL, "
        "steps on two Celery workers via Redis (needs: apt-get install postgresql redis-server)",
    )


def demo_settings(settings: Settings, emulator: RunningEmulator | EmulatorProcess) -> Settings:
    """The user's settings (data directory, privacy choices) pointed at the emulator and its licensors."""
    config = emulator.config

    def connection(base_url: str, template: Connection) -> Connection:
        return template.with_options(
            base_url=base_url,
            accounts_url=emulator.accounts_url,
            client_id=config.client_id,
            client_secret=config.client_secret,
        )

    privacy = settings.privacy
    return settings.with_changes(
        bulk=connection(emulator.bulk_api_url, settings.bulk),
        web=connection(emulator.web_api_url, settings.web),
        licensors=config.licensors,
        web_api_rate_limit=DEMO_WEB_API_RATE_LIMIT,
        # Synthetic listeners: a public key, unless the user set one.
        privacy=PrivacySettings(
            privacy.pseudonymize, privacy.key or DEMO_PSEUDONYM_KEY, privacy.drop_region, privacy.raw_rejects
        ),
        secrets_from_env=False,  # the emulator's credential is public, and not in the environment
    )


def run(args: argparse.Namespace, settings: Settings) -> int:
    if args.days < 1 or args.rows_per_day < 10:
        raise UsageError("--days must be at least 1 and --rows-per-day at least 10")
    if args.distributed:
        from pipeline.cli.demo_distributed import run_distributed_demo

        return run_distributed_demo(
            settings, days=args.days, rows_per_day=args.rows_per_day, verbose=args.verbose
        )
    return run_demo(
        settings,
        days=args.days,
        rows_per_day=args.rows_per_day,
        log_level=dagster_log_level(args),
        with_fraud=args.with_fraud,
    )


def demo_config(layout: Layout, rows_per_day: int, *, with_fraud: bool = False) -> EmulatorConfig:
    """The demo's emulator; `with_fraud`: every labelled pattern from the second-to-last day served
    (the days before are the baseline, and the last two show the flags)."""
    config = EmulatorConfig(rows_per_day=rows_per_day, cache_dir=layout.data_dir / ".emulator-cache")
    if not with_fraud:
        return config
    last = config.available()[1]
    return replace(config, fraud=FraudPlan.everything(last - timedelta(days=1)))


def run_demo(
    settings: Settings,
    *,
    days: int,
    rows_per_day: int,
    log_level: str = QUIET_LOG_LEVEL,
    with_fraud: bool = False,
) -> int:
    layout = Layout(settings.lake_dir)
    config = demo_config(layout, rows_per_day, with_fraud=with_fraud)
    started = time.monotonic()
    with emulator_process(config) as emulator:
        print(f"Spotify emulator listening on {emulator.base_url}", flush=True)
        settings = demo_settings(settings, emulator)
        defs = build_definitions(settings)
        window = resolve_window(start=str(days), end=str(config.lag_days))
        code = run_load(
            settings,
            licensors=config.licensors,
            window=window,
            reports=REPORTS,
            workers=2,
            log_level=log_level,
        )
        enrichments: list[EnrichSummary] = []
        if code == 0:
            # Twice: the second run shows the incremental cost when nothing is new (no requests).
            for label in ("Enriching the catalog from the Web API...", "Enriching again (nothing new)..."):
                print(f"\n{label}", flush=True)
                enrichments.append(run_enrich(settings, defs, log_level=log_level))
                print_summary(enrichments[-1])
            code = 0 if all(e.success for e in enrichments) else 1
    print()
    print(f"Lake at {layout.lake_root}:")
    print(format_summary(summarize_lake(layout)))
    if code == 0:
        print("\nBuilding the warehouse...", flush=True)
        built = run_build(settings, defs, log_level=log_level)
        print_build(built)
        code = 0 if built.passed else 1
        if built.passed:
            print()
            print(top_tracks_table(layout, options=WarehouseOptions.from_settings(settings)))
            streamed, named = named_tracks(layout, WarehouseOptions.from_settings(settings))
            share = named / streamed if streamed else 0.0
            print(
                f"\nCatalog: {named:,} of {streamed:,} streamed tracks ({share:.2%}) have a name and artists "
                "in the marts; Web API requests per enrichment run: "
                + ", ".join(f"{e.requests:,}" for e in enrichments)
                + " (first run, then a re-run with nothing new)"
            )
            if with_fraud:
                flagged = flagged_tracks(layout, window, options=WarehouseOptions.from_settings(settings))
                print("\n" + format_flagged(flagged, window))
    print(f"\nDemo finished in {time.monotonic() - started:.1f} s (exit code {code}).")
    print("Next steps:")
    print(f"  {dagster_dev_command(settings)}  # the Dagster UI: these runs, assets, checks")
    print("  uv run spotify-bulk dashboard           # the dashboard on http://127.0.0.1:8501/")
    print('  uv run spotify-bulk query "SELECT * FROM fct_track_performance LIMIT 5"')
    print("  uv run spotify-bulk sql                 # a read-only SQL prompt over the warehouse")
    print("  uv run spotify-bulk risk                # tracks flagged for artificial streaming")
    return code
