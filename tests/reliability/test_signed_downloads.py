"""Signed downloads over real HTTP: a file request redirects to a second loopback origin (the storage
host) that refuses a request carrying `Authorization` (400) and answers an expired URL with 403.

Each load must land exactly the clean run's rows, with the storage host never seeing our token.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import replace

import pytest

from pipeline.emulator import FaultPlan, RunningEmulator, start_emulator
from pipeline.ingest.archive import MANIFEST_NAME
from pipeline.reports import REPORTS
from tests.conftest import LOADED_DAY
from tests.kits.reliability import (
    assert_no_partial_state,
    lake_state,
    load_day,
    logged,
    record,
    report_named,
)
from tests.reliability.conftest import LICENSOR, cleaned

STORAGE_PREFIX = "/emulator-bulk-exports/"
USERS_FILE = f"/v1/analytics/{LICENSOR}/enhanced/users/{LOADED_DAY:%Y/%m/%d}"  # acme's are zero-padded


def signed_emulator(base: RunningEmulator, *faults: str, **modes: object) -> RunningEmulator:
    """An emulator serving the suite's data (same seed, size and cache) with signed downloads."""
    config = replace(base.config, downloads="signed", faults=FaultPlan.parse(list(faults)), **modes)
    return start_emulator(config)


@pytest.fixture(scope="module")
def signed(fault_emulator: RunningEmulator) -> Iterator[RunningEmulator]:
    """A 303-to-storage emulator whose faults each test sets (clean and with empty logs after)."""
    with signed_emulator(fault_emulator) as running:
        yield running


@pytest.fixture
def storage(signed: RunningEmulator) -> Iterator[RunningEmulator]:
    yield from cleaned(signed)


def _assert_token_never_reached_storage(emu: RunningEmulator) -> None:
    requests = emu.storage_requests
    assert requests, "the storage host saw no request: downloads did not go through signed URLs"
    assert emu.storage_requests_with_authorization == 0
    assert all("authorization" not in r.header_names for r in requests)


def _storage_statuses(emu: RunningEmulator) -> list[int]:
    """Statuses the storage host sent (faults included: its own log has the handler's answer)."""
    return [status for _, path, status in emu.request_log if path.startswith(STORAGE_PREFIX)]


def _api_file_requests(emu: RunningEmulator, path: str = USERS_FILE) -> int:
    return sum(1 for _, p, _ in emu.request_log if p == path)


@pytest.mark.parametrize(
    ("redirect_status", "encoding"), [(303, "none"), (302, "none"), (307, "none"), (303, "gzip")]
)
def test_signed_downloads_land_the_clean_rows_without_sending_the_token(
    fault_emulator, tmp_path, clean, redirect_status, encoding
):
    data_dir = tmp_path / "data"
    with signed_emulator(
        fault_emulator, redirect_status=redirect_status, storage_content_encoding=encoding
    ) as emu:
        result = load_day(emu, data_dir, LICENSOR, LOADED_DAY)
        assert not result.failures, result.failures
        _assert_token_never_reached_storage(emu)
        assert emu.count(status=redirect_status) == len(emu.storage_requests)
        assert {r.path.split("/")[4] for r in emu.storage_requests} == {r.api_name for r in REPORTS}
        assert all(r.status == 200 for r in emu.storage_requests)
    assert lake_state(data_dir, LICENSOR, LOADED_DAY) == clean  # gzip labelled either way: same rows
    assert_no_partial_state(data_dir)
    for manifest in data_dir.rglob(MANIFEST_NAME):  # the API's uri is kept, never the signed URL
        files = json.loads(manifest.read_text())["files"]
        assert all(f["uri"].startswith(f"/{LICENSOR}/enhanced/") for f in files)
        assert "X-Goog" not in manifest.read_text() and "emulator-bulk-exports" not in manifest.read_text()
    record(
        "signed", f"{redirect_status}, Content-Encoding {encoding}", "clean rows; 0 tokens sent to storage"
    )


def test_an_expired_signed_url_is_asked_for_again(storage, tmp_path, clean):
    storage.set_faults(FaultPlan.parse(["signed_expired:count=1,report=users"]))
    data_dir = tmp_path / "data"
    result = load_day(storage, data_dir, LICENSOR, LOADED_DAY, reports=(report_named("users"),))
    assert not result.failures, result.failures
    assert logged(lambda: _storage_statuses(storage), [403, 200]) == [403, 200]
    assert logged(lambda: _api_file_requests(storage), 2) == 2  # the API was asked for a fresh URL
    _assert_token_never_reached_storage(storage)
    assert lake_state(data_dir, LICENSOR, LOADED_DAY)["users"] == clean["users"]
    record("signed", "signed_expired:count=1", "fresh URL asked once; loaded")


def test_storage_5xx_and_resets_are_retried_on_the_same_url(storage, tmp_path, clean):
    storage.set_faults(FaultPlan.parse(["server_error:count=2,scope=storage", "reset:count=1,scope=storage"]))
    data_dir = tmp_path / "data"
    result = load_day(storage, data_dir, LICENSOR, LOADED_DAY)
    assert not result.failures, result.failures
    assert {kind for kind, _, path in storage.fault_log if path.startswith(STORAGE_PREFIX)} == {
        "server_error",
        "reset",
    }
    _assert_token_never_reached_storage(storage)
    assert lake_state(data_dir, LICENSOR, LOADED_DAY) == clean
    record("signed", "storage 5xx x2 + reset", "retried on the storage host; clean rows")


def test_a_storage_host_refusing_every_url_fails_after_three_renewals(storage, tmp_path):
    storage.set_faults(FaultPlan.parse(["signed_expired:count=0,report=users"]))
    data_dir = tmp_path / "data"
    result = load_day(storage, data_dir, LICENSOR, LOADED_DAY, reports=(report_named("users"),))
    failure = result.failures["users"]
    assert failure.permanent
    assert "the storage host refused 4 fresh signed URLs (statuses 403, 403, 403, 403)" in str(failure)
    assert USERS_FILE in str(failure) and "X-Goog" not in str(failure)
    assert logged(lambda: _api_file_requests(storage), 4) == 4
    assert logged(lambda: _storage_statuses(storage), [403] * 4) == [403] * 4
    assert lake_state(data_dir, LICENSOR, LOADED_DAY)["users"] is None
    record("signed", "signed_expired:count=0", "failed clearly after 3 renewals")
