"""`spotify-bulk demo --distributed`: the same demo, deployed the way it runs across machines.

On loopback it starts SeaweedFS (the S3 store of the Iceberg lake), PostgreSQL (Dagster's run,
event and schedule storage, and the Iceberg SQL catalog), Redis (the Celery broker) and two Celery
workers; then it runs the plain demo's steps as the ordinary commands (`load`, `enrich`, `build`),
configured only by environment variables, with every load step executed by a worker. It prints how
many steps each worker ran, where the lake is and what it holds, and stops everything it started,
also on failure, Ctrl-C (SIGINT), `kill` (SIGTERM) or a closed terminal (SIGHUP): each server and
each step runs in a process group of its own, stopped as a group. PostgreSQL and Redis get
generated passwords, passed to the steps and workers in their environment only.
"""

from __future__ import annotations

import contextlib
import secrets
import signal
import sys
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from types import FrameType

import yaml

from pipeline.cli.demo import DEMO_WEB_API_RATE_LIMIT
from pipeline.config import (
    DEMO_PSEUDONYM_KEY,
    Settings,
    child_environment,
    environment_variable,
    open_table_lake,
)
from pipeline.emulator import EmulatorConfig, start_emulator
from pipeline.ingest.summary import format_summary, summarize_lake
from pipeline.layout import Layout
from pipeline.orchestration.servers import (
    celery_config_dir,
    postgres_programs,
    process_group,
    redis_program,
    seaweedfs_program,
    start_celery_workers,
    start_postgres,
    start_redis,
    start_seaweedfs,
)

BUCKET = "spotify-bulk-demo"
WORKERS = ["worker-1", "worker-2"]
TEMPLATE = Path(__file__).resolve().parents[1] / "orchestration" / "dagster_postgres.yaml"
PG_URL_ENV = "DAGSTER_PG_URL"  # what the template's storage reads: the URL holds the password
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


def check_prerequisites() -> None:
    """Fail before starting anything when a program is missing (each says how to install it)."""
    postgres_programs()
    redis_program()
    seaweedfs_program()


def write_instance(home: Path) -> None:
    """$DAGSTER_HOME/dagster.yaml: the Postgres template as it is; the URL (with the password) is
    read from DAGSTER_PG_URL in the environment, never written to the file."""
    config = yaml.safe_load(TEMPLATE.read_text())
    assert config["storage"]["postgres"]["postgres_url"] == {"env": PG_URL_ENV}
    home.mkdir(parents=True, exist_ok=True)
    (home / "dagster.yaml").write_text(yaml.safe_dump(config, sort_keys=False))


def _stop(signum: int, _frame: FrameType | None) -> None:
    """The first stop signal unwinds the demo (everything started is stopped on the way out); any
    later one is ignored, so that clean-up is not cut short."""
    for number in STOP_SIGNALS:
        signal.signal(number, signal.SIG_IGN)
    if signum == signal.SIGINT:
        raise KeyboardInterrupt
    print(f"\n{signal.Signals(signum).name}: stopping everything the demo started...", flush=True)
    raise SystemExit(128 + signum)


@contextlib.contextmanager
def _stopped_by_signals() -> Iterator[None]:
    previous = {number: signal.signal(number, _stop) for number in STOP_SIGNALS}
    try:
        yield
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)


def run_distributed_demo(settings: Settings, *, days: int, rows_per_day: int, verbose: bool = False) -> int:
    """The demo across loopback servers; its exit code (the first failing command's)."""
    check_prerequisites()
    with _stopped_by_signals():
        return _run(settings, days=days, rows_per_day=rows_per_day, verbose=verbose)


def _run(settings: Settings, *, days: int, rows_per_day: int, verbose: bool) -> int:
    started = time.monotonic()
    layout = Layout(settings.lake_dir / "distributed")
    runtime = layout.data_dir / ".servers"
    lake_url = f"s3://{BUCKET}/lake"
    key_id, secret = f"demo-{secrets.token_hex(4)}", secrets.token_urlsafe(24)
    with contextlib.ExitStack() as stack:
        print("Starting SeaweedFS (S3), PostgreSQL and Redis on 127.0.0.1...", flush=True)
        store = stack.enter_context(
            start_seaweedfs(runtime / "seaweedfs", access_key_id=key_id, secret_access_key=secret)
        )
        postgres = stack.enter_context(start_postgres())
        postgres.create_database("dagster")
        broker = stack.enter_context(start_redis(runtime / "redis"))
        config = EmulatorConfig(rows_per_day=rows_per_day, cache_dir=settings.lake_dir / ".emulator-cache")
        emulator = stack.enter_context(start_emulator(config))
        home = runtime / "dagster_home"
        write_instance(home)
        env = child_environment(
            SPOTIFY_BULK_API_URL=emulator.bulk_api_url,
            SPOTIFY_WEB_API_URL=emulator.web_api_url,
            SPOTIFY_ACCOUNTS_URL=emulator.accounts_url,
            SPOTIFY_CLIENT_ID=config.client_id,
            SPOTIFY_CLIENT_SECRET=config.client_secret,  # the emulator's public credential
            SPOTIFY_LICENSORS=",".join(config.licensors),
            SPOTIFY_WEB_API_RATE_LIMIT=str(DEMO_WEB_API_RATE_LIMIT),
            SPOTIFY_BULK_PSEUDONYM_KEY=settings.privacy.key or DEMO_PSEUDONYM_KEY,
            SPOTIFY_BULK_DATA_DIR=str(layout.data_dir),
            SPOTIFY_BULK_LAKE_URL=lake_url,
            SPOTIFY_BULK_ARCHIVE_URL=f"s3://{BUCKET}/archive",
            SPOTIFY_BULK_CATALOG_URI=postgres.url("dagster"),
            SPOTIFY_BULK_EXECUTOR="celery",
            SPOTIFY_BULK_CELERY_BROKER=broker,
            DAGSTER_PG_URL=postgres.url("dagster"),
            AWS_ENDPOINT_URL=store.endpoint,
            AWS_ACCESS_KEY_ID=key_id,
            AWS_SECRET_ACCESS_KEY=secret,
            AWS_REGION=store.region,
            DAGSTER_HOME=str(home),
        )
        celery_dir = celery_config_dir(runtime / "celery")
        workers = stack.enter_context(start_celery_workers(WORKERS, env, celery_dir, runtime / "logs"))
        print(f"Celery workers ready: {', '.join(w.name for w in workers)}; lake at {lake_url}", flush=True)
        code = _run_steps(
            env, days=days, lag_days=config.lag_days, licensors=config.licensors, verbose=verbose
        )
        steps = steps_per_worker(home, env[PG_URL_ENV])
        lake = open_table_lake(
            replace(
                settings,
                data_dir=layout.data_dir,
                lake_url=lake_url,
                catalog_uri=postgres.url("dagster"),
                object_store=store,
            )
        )
        summary = format_summary(summarize_lake(layout, lake))  # while the servers still run
    print()
    for worker in workers:
        print(f"worker {worker.name}: {steps.get(worker.name, 0)} steps")
    print(f"Archive at s3://{BUCKET}/archive (write-once originals)")
    print(f"Lake at {lake_url} (Iceberg tables, catalog in PostgreSQL):")
    print(summary)
    print(f"\nDistributed demo finished in {time.monotonic() - started:.1f} s (exit code {code}).")
    return code


def _run_steps(
    env: dict[str, str], *, days: int, lag_days: int, licensors: tuple[str, ...], verbose: bool
) -> int:
    """load (Celery), enrich, build: the demo's steps as the commands an operator would run."""
    load = ["load", *(a for lic in licensors for a in ("--licensor", lic))]
    load += ["--start", str(days), "--end", str(lag_days)]
    for step in (load, ["enrich"], ["build"]):
        print(f"\n$ spotify-bulk {' '.join(step)}", flush=True)
        argv = [sys.executable, "-m", "pipeline.cli.main", *step, *(["--verbose"] if verbose else [])]
        with process_group(argv, env=env) as process:  # stopped with its children if we are
            code = process.wait()
        if code != 0:
            return code
    return 0


def steps_per_worker(home: Path, postgres_url: str) -> Counter[str]:
    """How many steps each Celery worker executed, from the run storage's engine events."""
    import dagster as dg

    counts: Counter[str] = Counter()
    with (
        environment_variable(PG_URL_ENV, postgres_url),
        dg.DagsterInstance.from_config(str(home)) as instance,
    ):
        for run in instance.get_runs():
            for entry in instance.all_logs(run.run_id, of_type=dg.DagsterEventType.ENGINE_EVENT):
                data = entry.dagster_event.engine_event_data if entry.dagster_event else None
                worker = data.metadata.get("Celery worker") if data else None
                if worker is not None:
                    counts[str(getattr(worker, "value", worker))] += 1
    return counts
