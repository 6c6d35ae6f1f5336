"""The one place that assembles the Dagster definitions from `assets/`.

`dagster dev`, `dg check defs` and every run worker load `defs`, which reads settings once, when the
code location starts (never at import). The CLI and the tests call `build_definitions` with the
settings they already hold, so one process never reads the environment twice.
"""

from __future__ import annotations

import dagster as dg

from assets.bulk_reports import bulk_report_assets
from assets.catalog import catalog_assets, catalog_job
from assets.schedules import build_schedules, build_sensors, bulk_reports_job, warehouse_job
from assets.warehouse import warehouse_assets
from pipeline.config import DEFAULT_CELERY_BROKER, Settings, load_settings
from pipeline.orchestration.partitions import build_partitions
from pipeline.orchestration.resources import build_resources


def build_definitions(settings: Settings) -> dg.Definitions:
    """Every asset, check, job, schedule and resource, for these settings."""
    partitions = build_partitions(settings.licensors, settings.start_date)
    return dg.Definitions(
        assets=[
            *bulk_report_assets(partitions, step_retries=settings.step_retries),
            *catalog_assets,
            *warehouse_assets(partitions),
        ],
        jobs=[bulk_reports_job, catalog_job, warehouse_job],
        schedules=build_schedules(partitions, settings.lookback_days),
        sensors=build_sensors(partitions, settings.lookback_days),
        resources=build_resources(settings),
        executor=_executor(settings),
    )


def _executor(settings: Settings) -> dg.ExecutorDefinition | None:
    """Celery (steps on distributed workers) when configured; else Dagster's default."""
    if settings.executor != "celery":
        return None
    from dagster_celery import celery_executor

    # A broker URL may hold a password: when it came from the environment, Dagster reads it from there
    # (never into run config or storage).
    if settings.secrets_from_env and settings.celery_broker != DEFAULT_CELERY_BROKER:
        broker: object = {"env": "SPOTIFY_BULK_CELERY_BROKER"}
        backend: object = {"env": "SPOTIFY_BULK_CELERY_BACKEND"} if settings.celery_backend else broker
    else:
        broker, backend = settings.celery_broker, settings.celery_backend or settings.celery_broker
    return celery_executor.configured({"broker": broker, "backend": backend})


@dg.definitions
def defs() -> dg.Definitions:
    """The code location of `dagster dev`: settings from the environment, licensors required."""
    settings = load_settings()
    settings.require_licensors("the Dagster definitions (dagster dev, schedules, backfills)")
    return build_definitions(settings)
