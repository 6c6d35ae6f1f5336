"""The Dagster instance of a data directory: its runs and materializations live with the data.

Runs and asset materializations describe one lake, so each data directory has its own instance,
`{data_dir}/.dagster` (DAGSTER_HOME when set wins, as configured). Its `dagster.yaml` is rendered
there from `instance_config`: Dagster's stock SQLite storage under the home, telemetry off, a run
queue of 4 and exclusive pools. `uv run dagster dev` shows the same runs with
`DAGSTER_HOME={data_dir}/.dagster` (the CLI prints it); from the project directory with the default
data directory it needs nothing, as the project's `dagster.yaml` is this config for `data/.dagster`.
"""

from __future__ import annotations

import json
from pathlib import Path

import dagster as dg

from pipeline.config import Settings
from pipeline.storage.atomic import atomic_write_bytes

API_POOL = "spotify_api"
HOME_NAME = ".dagster"  # under the data directory
MAX_CONCURRENT_RUNS = 4  # backfills and the daily schedule go through this queue
TELEMETRY_OFF = "telemetry:\n  enabled: false\n"


def instance_config(home: Path) -> dict[str, object]:
    """The `dagster.yaml` of an instance kept in `home` (paths as given: absolute for a data
    directory's instance, relative in the project's file, which `dagster dev` resolves from the
    project directory)."""
    return {
        "telemetry": {"enabled": False},
        "storage": {"sqlite": {"base_dir": str(home / "storage")}},
        "local_artifact_storage": {
            "module": "dagster.core.storage.root",
            "class": "LocalArtifactStorage",
            "config": {"base_dir": str(home)},
        },
        "compute_logs": {
            "module": "dagster.core.storage.local_compute_log_manager",
            "class": "LocalComputeLogManager",
            "config": {"base_dir": str(home / "logs")},
        },
        # Every pool is exclusive unless raised: `duckdb_writer` stays at 1 (one writing process per
        # DuckDB file); `spotify_api` is raised to SPOTIFY_API_POOL_LIMIT by `open_instance`.
        "concurrency": {"runs": {"max_concurrent_runs": MAX_CONCURRENT_RUNS}, "pools": {"default_limit": 1}},
    }


def render_instance_config(home: Path) -> str:
    """`instance_config` as a `dagster.yaml` (JSON is YAML: no YAML writer needed)."""
    header = "# Written by spotify-bulk (pipeline/orchestration/instance.py) for this data directory.\n"
    return header + json.dumps(instance_config(home), indent=2) + "\n"


def dagster_home(settings: Settings) -> Path:
    """`DAGSTER_HOME` from settings (as configured; telemetry off if it has no `dagster.yaml`), else
    `{data_dir}/.dagster` with its `dagster.yaml` (re)written when missing or stale (the data
    directory moved); created if missing."""
    if settings.dagster_home is not None:
        home = settings.dagster_home
        home.mkdir(parents=True, exist_ok=True)
        if not (home / "dagster.yaml").exists():  # Dagster's default storage, without telemetry
            atomic_write_bytes(home / "dagster.yaml", TELEMETRY_OFF.encode())
        return home
    home = settings.lake_dir / HOME_NAME
    home.mkdir(parents=True, exist_ok=True)
    config, wanted = home / "dagster.yaml", render_instance_config(home)
    if not config.exists() or config.read_text() != wanted:
        atomic_write_bytes(config, wanted.encode())
    return home


def dagster_dev_command(settings: Settings) -> str:
    """How to open this data directory's runs in the Dagster UI (what the CLI prints)."""
    return f"DAGSTER_HOME={dagster_home(settings)} uv run dagster dev"


def open_instance(settings: Settings) -> dg.DagsterInstance:
    """The data directory's instance, with the Spotify API pool sized from settings."""
    instance = dg.DagsterInstance.from_config(str(dagster_home(settings)))
    storage = instance.event_log_storage
    if storage.supports_global_concurrency_limits:
        info = storage.get_concurrency_info(API_POOL)
        if info.slot_count != settings.api_pool_limit:
            storage.set_concurrency_slots(API_POOL, settings.api_pool_limit)
    return instance
