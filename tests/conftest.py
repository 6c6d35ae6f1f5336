"""Shared fixtures: an isolated environment and the Spotify emulator over real HTTP on loopback."""

from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pytest

from pipeline.config import ObjectStoreSettings
from pipeline.emulator import EmulatorConfig, RunningEmulator, start_emulator
from pipeline.orchestration.servers import (
    Postgres,
    postgres_programs,
    redis_program,
    start_postgres,
    start_redis,
)
from tests.kits.object_store import moto_s3, seaweedfs_s3
from tests.kits.servers import require

pytest_plugins = ["tests.kits.figures"]  # the reliability figures, gathered from every worker

# The emulator's fixed "today": tests never depend on the real clock.
EMULATOR_TODAY = date(2026, 6, 15)
LOADED_DAY = date(2026, 6, 12)
TEST_PSEUDONYM_KEY = "test-pseudonym-key-0123456789"


@pytest.fixture(autouse=True, scope="session")
def _isolated_environment(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """No developer `.env` or shell settings leak into tests; Dagster gets a throwaway home."""
    saved = dict(os.environ)
    for name in list(os.environ):
        if name.startswith(("SPOTIFY_", "DAGSTER_")):
            del os.environ[name]
    os.environ["DAGSTER_HOME"] = str(tmp_path_factory.mktemp("dagster_home"))
    os.environ["DAGSTER_TELEMETRY_DISABLED"] = "1"
    os.environ["SPOTIFY_BULK_PSEUDONYM_KEY"] = TEST_PSEUDONYM_KEY  # pseudonymizing is on by default
    yield
    os.environ.clear()
    os.environ.update(saved)


@pytest.fixture(scope="session")
def emulator_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("emulator_cache")


@pytest.fixture(scope="session")
def emulator(emulator_cache: Path) -> Iterator[RunningEmulator]:
    """A clean (fault-free) emulator shared by the session; tests that inject faults start their own.

    Its Web API app has the extended quota (batch endpoints, popularity, audio features), which the
    tests of batch sizes and catalog history rely on; `dev_emulator` serves a development-mode app.
    """
    config = EmulatorConfig(
        rows_per_day=600, today=EMULATOR_TODAY, cache_dir=emulator_cache, web_api_mode="extended"
    )
    with start_emulator(config) as running:
        yield running


@pytest.fixture(scope="session")
def dev_emulator(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningEmulator]:
    """The session emulator's data (same seed, licensors and days) behind a development-mode Web API
    app: batch tracks/albums/artists and audio features 403, no popularity, followers or label."""
    config = EmulatorConfig(
        rows_per_day=600,
        today=EMULATOR_TODAY,
        cache_dir=tmp_path_factory.mktemp("dev_emulator_cache"),
        web_api_mode="development",
    )
    with start_emulator(config) as running:
        yield running


@pytest.fixture
def api_env(emulator: RunningEmulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Point the pipeline's settings at the emulator and a fresh data directory; returns it."""
    data_dir = tmp_path / "data"
    for name, value in {
        "SPOTIFY_BULK_API_URL": emulator.bulk_api_url,
        "SPOTIFY_ACCOUNTS_URL": emulator.accounts_url,
        "SPOTIFY_WEB_API_URL": emulator.web_api_url,
        "SPOTIFY_CLIENT_ID": emulator.config.client_id,
        "SPOTIFY_CLIENT_SECRET": emulator.config.client_secret,
        "SPOTIFY_BULK_DATA_DIR": str(data_dir),
        "SPOTIFY_LICENSORS": ",".join(emulator.config.licensors),
    }.items():
        monkeypatch.setenv(name, value)
    return data_dir


# Servers of the distributed deployment, started once per session by the tests that need them (each
# test uses its own bucket or database): moto and SeaweedFS come from PyPI and are never skipped;
# PostgreSQL and Redis are OS packages, skipped with the install command outside CI (see kits/servers).
@pytest.fixture(scope="session")
def moto_store() -> Iterator[ObjectStoreSettings]:
    with moto_s3() as store:
        yield store


@pytest.fixture(scope="session")
def seaweed_store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ObjectStoreSettings]:
    with seaweedfs_s3(tmp_path_factory.mktemp("seaweedfs")) as store:
        yield store


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[Postgres]:
    require(postgres_programs)
    with start_postgres() as server:
        yield server


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    require(redis_program)
    with start_redis(tmp_path_factory.mktemp("redis")) as url:
        yield url
