"""The persistent Dagster instance shared by the CLI and `dagster dev`.

Both resolve the same instance: `DAGSTER_HOME` when set, else the project directory whose
`dagster.yaml` keeps storage under `.dagster/`, so CLI loads appear in the UI's run history.
"""

from __future__ import annotations

import os
from pathlib import Path

import dagster as dg

API_POOL = "spotify_api"
DEFAULT_API_POOL_LIMIT = 4


def dagster_home(cwd: Path | None = None) -> Path:
    """Resolve (and export) `DAGSTER_HOME`, defaulting to the project directory."""
    configured = os.environ.get("DAGSTER_HOME")
    if configured:
        return Path(configured)
    root = (cwd or Path.cwd()).resolve()
    home = root if (root / "dagster.yaml").exists() else root / ".dagster"
    home.mkdir(parents=True, exist_ok=True)
    os.environ["DAGSTER_HOME"] = str(home)
    return home


def open_instance() -> dg.DagsterInstance:
    """The project's instance, with the Spotify API pool sized from `SPOTIFY_API_POOL_LIMIT`."""
    dagster_home()
    instance = dg.DagsterInstance.get()
    limit = int(os.environ.get("SPOTIFY_API_POOL_LIMIT") or DEFAULT_API_POOL_LIMIT)
    storage = instance.event_log_storage
    if storage.supports_global_concurrency_limits:
        info = storage.get_concurrency_info(API_POOL)
        if info.slot_count != limit:
            storage.set_concurrency_slots(API_POOL, limit)
    return instance
