"""Settings and connections for tests: built directly, never read from the environment."""

from __future__ import annotations

import functools
from datetime import date
from pathlib import Path
from typing import Literal

import dagster as dg

from pipeline.clients.connection import Connection
from pipeline.config import DEFAULT_START_DATE, PrivacySettings, Settings
from pipeline.emulator import EmulatorConfig, RunningEmulator
from pipeline.orchestration.partitions import Partitions, build_partitions
from pipeline.orchestration.resources import BulkApiResource

TEST_PSEUDONYM_KEY = "test-pseudonym-key-0123456789"


def emulator_connection(
    emulator: RunningEmulator, api: Literal["bulk", "web"] = "bulk", **changes: object
) -> Connection:
    """A connection to the emulator's Bulk API or Web API with its (public) credentials."""
    config = emulator.config
    base = emulator.bulk_api_url if api == "bulk" else emulator.web_api_url
    connection = Connection(
        base,
        emulator.accounts_url,
        client_id=config.client_id,
        client_secret=config.client_secret,
        timeout=10.0 if api == "web" else 60.0,
        max_concurrency=4 if api == "web" else 8,
    )
    return connection.with_options(**changes) if changes else connection


def emulator_bulk_api(emulator: RunningEmulator, **fields: object) -> BulkApiResource:
    """The Dagster Bulk API resource pointed at the emulator with its (public) credentials;
    `fields` override any of them (a secret as `dg.EnvVar`, a short timeout)."""
    config = emulator.config
    defaults: dict[str, object] = {
        "client_id": config.client_id,
        "client_secret": config.client_secret,
        "base_url": emulator.bulk_api_url,
        "accounts_url": emulator.accounts_url,
    }
    return BulkApiResource(**{**defaults, **fields})  # type: ignore[arg-type]


def emulator_settings(emulator: RunningEmulator, data_dir: Path, **changes: object) -> Settings:
    """Settings pointed at the emulator and a data directory, pseudonymizing with the test key."""
    settings = Settings(
        bulk=emulator_connection(emulator, "bulk"),
        web=emulator_connection(emulator, "web"),
        licensors=emulator.config.licensors,
        data_dir=data_dir,
        web_api_rate_limit=10_000,
        privacy=PrivacySettings(pseudonymize=True, key=TEST_PSEUDONYM_KEY),
    )
    return settings.with_changes(**changes) if changes else settings


CONNECTION_FIELDS = ("base_url", "accounts_url", "client_id", "client_secret", "timeout", "max_concurrency")


def split_connection(options: dict[str, object]) -> tuple[Connection, dict[str, object]]:
    """Client keyword options split into a `Connection` and the client's own options."""
    fields = {k: options.pop(k) for k in CONNECTION_FIELDS if k in options}
    return Connection(**fields), options  # type: ignore[arg-type]


def kit_partitions(licensors: tuple[str, ...] = ("acme", "globex")) -> Partitions:
    """The partitions the tests' definitions use (the emulator's demo licensors)."""
    return build_partitions(licensors, DEFAULT_START_DATE)


@functools.cache
def kit_definitions(settings: Settings | None = None) -> dg.Definitions:
    """Definitions as `dagster dev` builds them, for settings the test chose (built once per settings:
    call it at module level, before any test instance exists)."""
    from pipeline.definitions import build_definitions

    defs = build_definitions(settings or Settings(licensors=("acme", "globex")))
    # Resolve now: resolving later, after a test instance was disposed, trips over its dead weakref.
    defs.get_repository_def()
    return defs


def lake_report_assets() -> list[dg.AssetsDefinition]:
    """The Bulk API report assets on the test partitions."""
    from assets.bulk_reports import bulk_report_assets

    return bulk_report_assets(kit_partitions())


def one_licensor_config(cache_dir: Path, today: date, **modes: str) -> EmulatorConfig:
    """A small emulator serving licensor `acme` in the given content modes (`aggregated_shape`, ...)."""
    return EmulatorConfig(rows_per_day=300, today=today, licensors=("acme",), cache_dir=cache_dir, **modes)


def runs_in(dagster_home: Path | str, **filters: object) -> list[dg.DagsterRun]:
    """The runs recorded in a Dagster home, newest first (`filters` as in `dg.RunsFilter`).

    Not `with instance:` — its exit disposes the instance but leaves its state storage in a context
    variable, and a later Definitions load in this process trips over the dead weakref.
    """
    instance = dg.DagsterInstance.from_config(str(dagster_home))
    try:
        return list(instance.get_runs(dg.RunsFilter(**filters)))  # type: ignore[arg-type]
    finally:
        instance.dispose()
