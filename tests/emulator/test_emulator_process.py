"""The emulator in a child process (the demo's): it serves at the addresses it gives, stops with
the block, and a child that cannot listen is a clear error, not a hang."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from pipeline.emulator import EmulatorConfig
from pipeline.emulator.process import EmulatorProcessError, emulator_process
from tests.conftest import EMULATOR_TODAY


def test_the_child_serves_tokens_and_reports_then_stops_with_the_block(emulator_cache: Path):
    config = EmulatorConfig(rows_per_day=60, today=EMULATOR_TODAY, cache_dir=emulator_cache)
    with emulator_process(config) as emulator:
        token = httpx.post(
            emulator.accounts_url,
            auth=(config.client_id, config.client_secret),
            data={"grant_type": "client_credentials"},
        ).json()["access_token"]
        listing = httpx.get(
            f"{emulator.bulk_api_url}/acme/enhanced/users", headers={"Authorization": f"Bearer {token}"}
        )
        assert listing.status_code == 200, listing.text
        assert emulator.web_api_url.startswith(emulator.base_url)
    with pytest.raises(httpx.ConnectError):
        httpx.get(emulator.accounts_url, timeout=2)


def test_a_child_that_cannot_listen_is_an_error_naming_it(emulator_cache: Path):
    config = EmulatorConfig(rows_per_day=60, today=EMULATOR_TODAY, cache_dir=emulator_cache)
    unbindable = "192.0.2.1"  # TEST-NET-1: not an address of this machine
    with (
        pytest.raises(EmulatorProcessError, match="exited before listening"),
        emulator_process(config, host=unbindable),
    ):
        pass
