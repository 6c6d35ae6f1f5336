"""The persistent Dagster instance shared by the CLI and `dagster dev`.

Both resolve the same instance: `DAGSTER_HOME` when set, else the project directory whose
`dagster.yaml` keeps storage under `.dagster/`, so CLI loads appear in the UI's run history.
"""

from __future__ import annotations

from pathlib import Path

import dagster as dg

from pipeline.config import Settings

API_POOL = "spotify_api"


def dagster_home(settings: Settings, cwd: Path | None = None) -> Path:
    """`DAGSTER_HOME` from settings (created if missing), else the project directory (`dagster.yaml`)."""
    if settings.dagster_home is not None:
        home = settings.dagster_home
    else:
        root = (cwd or Path.cwd()).resolve()
        home = root if (root / "dagster.yaml").exists() else root / ".dagster"
    home.mkdir(parents=True, exist_ok=True)
    return home


def open_instance(settings: Settings) -> dg.DagsterInstance:
    """The project's instance, with the Spotify API pool sized from settings."""
    home = dagster_home(settings)
    instance = dg.DagsterInstance.from_config(str(home))
    storage = instance.event_log_storage
    if storage.supports_global_concurrency_limits:
        info = storage.get_concurrency_info(API_POOL)
        if info.slot_count != settings.api_pool_limit:
            storage.set_concurrency_slots(API_POOL, settings.api_pool_limit)
    return instance
