"""The persistent Dagster instance shared by the CLI and `dagster dev`.

Both resolve the same instance: `DAGSTER_HOME` when set, else the project directory whose
`dagster.yaml` keeps storage under `.dagster/`, so CLI loads appear in the UI's run history.
"""

from __future__ import annotations

import logging
from pathlib import Path

import dagster as dg
from dagster._core.instance.config import dagster_instance_config
from dagster._core.instance.ref import InstanceRef

from pipeline.config import Settings
from pipeline.orchestration.event_storage import pooled_storage

API_POOL = "spotify_api"


class _NoConfigNotice(logging.Filter):
    """Drops Dagster's notice that `DAGSTER_HOME` has no `dagster.yaml`: its defaults are fine there."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not record.getMessage().startswith("No dagster instance configuration file")


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
    notice, logger = _NoConfigNotice(), logging.getLogger("dagster")
    logger.addFilter(notice)
    try:
        # Telemetry off whatever the home's dagster.yaml says (a fresh home would print a banner).
        overrides: dict[str, object] = {"telemetry": {"enabled": False}}
        storage = pooled_storage(dagster_instance_config(str(home))[0].get("storage"), str(home))
        if storage is not None:  # SQLite: the same files, through an event log kept open
            overrides["storage"] = storage
        ref = InstanceRef.from_dir(str(home), overrides=overrides)
        instance = dg.DagsterInstance.from_ref(ref)
    finally:
        logger.removeFilter(notice)
    storage = instance.event_log_storage
    if storage.supports_global_concurrency_limits:
        info = storage.get_concurrency_info(API_POOL)
        if info.slot_count != settings.api_pool_limit:
            storage.set_concurrency_slots(API_POOL, settings.api_pool_limit)
    return instance
