"""What each Bulk API refusal means, over real HTTP: a 404 by its place, a 403, a quota ban, an
empty file. Configuration errors and bans fail at once, permanently, saying what to check or when to
resume; passing inconsistencies are retried; a file without data is named, never silent.
"""

from __future__ import annotations

import asyncio
import json
import time
from datetime import UTC, datetime, timedelta

import dagster as dg
import pytest

from pipeline.clients.bulk_api import BulkApiClient
from pipeline.clients.http import format_resume
from pipeline.emulator import FaultPlan, RunningEmulator
from pipeline.ingest.archive import MANIFEST_NAME
from pipeline.ingest.load import LoadFailed, load_report
from pipeline.layout import Layout
from pipeline.orchestration.partitions import partition_key
from pipeline.orchestration.resources import LakeResource
from pipeline.reports import REPORTS
from tests.conftest import LOADED_DAY
from tests.kits.reliability import lake_state, load_day, logged, record, report_named
from tests.kits.settings import emulator_bulk_api, emulator_connection, lake_report_assets
from tests.reliability.conftest import LICENSOR

USERS = report_named("users")
USERS_NAME = f"users_{LOADED_DAY:%Y-%m-%d}.json.gz"
BAN = "quota_ban:retry_after=72000,scope=bulk"


def _resume_times(started: datetime, wait: float) -> set[str]:
    """The resume times a message may name for a wait asked between `started` and now."""
    return {format_resume(started + timedelta(seconds=wait + extra)) for extra in (0, 60)}


def test_a_misspelled_licensor_fails_at_once_naming_it(emu, tmp_path):
    started = time.monotonic()
    result = load_day(emu, tmp_path / "data", "acme-recrods", LOADED_DAY)
    assert set(result.failures) == {r.name for r in REPORTS} and not result.outcomes
    for report in REPORTS:
        failure = result.failures[report.name]
        assert failure.permanent
        assert (
            f"unknown licensor 'acme-recrods' (404 at /acme-recrods/enhanced/{report.api_name}): "
            "check SPOTIFY_LICENSORS against your welcome email"
        ) in str(failure)
    assert time.monotonic() - started < 10 and not (tmp_path / "data" / "archive").exists()
    record("errors", "misspelled licensor (404 at the report root)", "failed at once, naming it")


def test_a_licensor_the_client_may_not_read_fails_as_not_allowed(emu, tmp_path):
    emu.set_faults(FaultPlan.parse([f"forbidden_licensor:licensor={LICENSOR}"]))
    result = load_day(emu, tmp_path / "data", LICENSOR, LOADED_DAY, reports=(USERS,))
    failure = result.failures["users"]
    assert failure.permanent
    assert f"client not allowed for licensor '{LICENSOR}' (403 at /{LICENSOR}/enhanced/users)" in str(failure)
    record("errors", "forbidden_licensor (403)", "failed at once: client not allowed for licensor")


def test_a_listed_file_answering_404_once_is_retried_and_loads(emu, tmp_path, clean):
    emu.set_faults(FaultPlan.parse(["missing_file:count=1,report=users"]))
    data_dir = tmp_path / "data"
    result = load_day(emu, data_dir, LICENSOR, LOADED_DAY, reports=(USERS,))
    assert not result.failures, result.failures
    assert logged(lambda: emu.count(status=404), 1) == 1
    assert lake_state(data_dir, LICENSOR, LOADED_DAY)["users"] == clean["users"]
    record("errors", "missing_file:count=1", "retried; loaded")


def test_a_listed_file_answering_404_for_good_fails_naming_it(emu, tmp_path):
    emu.set_faults(FaultPlan.parse(["missing_file:count=0,report=users"]))
    result = load_day(emu, tmp_path / "data", LICENSOR, LOADED_DAY, reports=(USERS,))
    message = str(result.failures["users"])
    assert f"GET /v1/analytics/{LICENSOR}/enhanced/users/{LOADED_DAY:%Y/%m/%d} failed after 4" in message
    assert "404 Not Found (a file named in its listing)" in message
    assert logged(lambda: emu.count(status=404), 4) == 4  # FAST_RETRY's attempts, then the failure
    record("errors", "missing_file:count=0", "failed after 4 attempts, naming the file")


def test_a_quota_ban_ends_the_load_in_seconds_with_the_resume_time(emu, tmp_path):
    """The client's own policy (from the connection: 600 s), not the suite's quick one."""
    emu.set_faults(FaultPlan.parse([BAN]))
    began, started = datetime.now(UTC), time.monotonic()

    async def main() -> dict[str, BaseException]:
        failures: dict[str, BaseException] = {}
        async with BulkApiClient(emulator_connection(emu)) as client:
            for report in REPORTS:
                try:
                    await load_report(client, Layout(tmp_path / "data"), report, LICENSOR, LOADED_DAY)
                except LoadFailed as exc:
                    failures[report.name] = exc
        return failures

    failures = asyncio.run(main())
    seconds = time.monotonic() - started
    assert seconds < 10
    assert set(failures) == {r.name for r in REPORTS}
    resume = _resume_times(began, 72000)
    for failure in failures.values():
        message = str(failure)
        assert failure.permanent and "Spotify asked to wait 20.0 h (quota exceeded)" in message
        assert message.rsplit("resume after ", 1)[1] in resume, message
    assert logged(lambda: emu.count(status=429), len(REPORTS)) == len(REPORTS)  # one each: not retried
    record("waiting", "quota_ban (Retry-After 72000 s)", f"{len(REPORTS)} reports ended in {seconds:.1f} s")


def test_a_retry_after_over_the_limit_ends_the_load(emu, tmp_path):
    emu.set_faults(FaultPlan.parse(["rate_limit:count=0,retry_after=30,report=users"]))
    began, started = datetime.now(UTC), time.monotonic()

    async def main() -> None:
        connection = emulator_connection(emu, max_retry_after=5.0)
        async with BulkApiClient(connection) as client:
            await load_report(client, Layout(tmp_path / "data"), USERS, LICENSOR, LOADED_DAY)

    with pytest.raises(LoadFailed) as info:
        asyncio.run(main())
    message = str(info.value)
    assert time.monotonic() - started < 10 and info.value.permanent
    assert "Spotify asked to wait 30 s (over the limit of 5 s, SPOTIFY_MAX_RETRY_AFTER_SECONDS)" in message
    assert message.rsplit("resume after ", 1)[1] in _resume_times(began, 30)
    record("waiting", "Retry-After 30 s over a 5 s limit", "ended at once with the resume time")


def _materialize(emu: RunningEmulator, data_dir, instance, selection: list[str]) -> dg.ExecuteInProcessResult:
    resources = {
        "bulk_api": emulator_bulk_api(emu),
        "lake": LakeResource(data_dir=str(data_dir), pseudonymize=False),
    }
    return dg.materialize(
        lake_report_assets(),
        resources=resources,
        instance=instance,
        selection=selection,
        partition_key=str(partition_key(LICENSOR, LOADED_DAY)),
        raise_on_error=False,
    )


def test_a_quota_ban_fails_the_asset_without_step_retries(emu, tmp_path):
    emu.set_faults(FaultPlan.parse([BAN]))
    with dg.instance_for_test() as instance:
        result = _materialize(emu, tmp_path / "data", instance, ["users"])
        stamps = {
            e.dagster_event_type: e.timestamp for e in instance.all_logs(result.run_id) if e.is_dagster_event
        }
    seconds = stamps[dg.DagsterEventType.STEP_FAILURE] - stamps[dg.DagsterEventType.STEP_START]
    assert not result.success and seconds < 10
    (failure,) = result.get_step_failure_events()
    assert "Spotify asked to wait 20.0 h (quota exceeded)" in failure.step_failure_data.error.message
    assert "resume after 20" in failure.step_failure_data.error.message
    assert not [e for e in result.all_events if e.event_type == dg.DagsterEventType.STEP_UP_FOR_RETRY]
    record("waiting", "quota_ban through Dagster", f"Failure(allow_retries=False) in {seconds:.1f} s")


def test_an_empty_file_is_named_in_the_outcome_manifest_and_metadata(emu, tmp_path):
    emu.set_faults(FaultPlan.parse(["empty:report=users"]))
    data_dir = tmp_path / "data"
    result = load_day(emu, data_dir, LICENSOR, LOADED_DAY, reports=(USERS,))
    outcome = result.outcomes["users"]
    assert outcome.available and outcome.empty_files == (USERS_NAME,)
    manifest = json.loads(next(data_dir.rglob(MANIFEST_NAME)).read_text())
    assert [(f["name"], f["empty"]) for f in manifest["files"]] == [(USERS_NAME, True)]
    with dg.instance_for_test() as instance:
        run = _materialize(emu, tmp_path / "dagster-data", instance, ["users"])
    assert run.success
    (event,) = run.get_asset_materialization_events()
    assert event.materialization.metadata["empty_files"].value == [USERS_NAME]
    assert event.materialization.metadata["dagster/row_count"].value == 0
    record("errors", "empty file (users)", "loaded; named in outcome, manifest and metadata")
