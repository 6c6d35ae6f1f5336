"""The fault suite: every emulator fault, alone and all mixed, over real HTTP on loopback.

Each test ends in a correct load (the same rows as the clean run, or exactly those minus the lines
the fault broke, each in the rejects file) or a clear failure naming report, licensor, date and
cause; either way no partial partition is visible, and a re-run once the API behaves completes
with the clean run's rows.
"""

from __future__ import annotations

import asyncio
import json
import time

import dagster as dg
import pytest

from pipeline.clients.bulk_api import RemoteFile
from pipeline.clients.http import RetriesExhausted, RetryPolicy
from pipeline.emulator import FaultPlan
from pipeline.orchestration.partitions import partition_key
from pipeline.orchestration.resources import LakeResource
from pipeline.reports import REPORTS, TABLES_BY_NAME
from tests.conftest import EMULATOR_TODAY, LOADED_DAY
from tests.kits.reliability import (
    as_multiset,
    assert_no_partial_state,
    client_for,
    lake_state,
    load_day,
    logged,
    record,
    report_named,
)
from tests.kits.settings import emulator_bulk_api, lake_report_assets
from tests.reliability.conftest import LICENSOR

DAY = f"{LOADED_DAY:%Y-%m-%d}"
FLAT = ("streams", "sub30_streams", "users", "tracks")


def _faults(emu, *specs: str) -> None:
    emu.set_faults(FaultPlan.parse(list(specs)))


def _rerun_matches_clean(emu, data_dir, clean) -> None:
    """Once the API behaves, a re-run over the same data directory lands the clean rows."""
    emu.set_faults(FaultPlan())
    again = load_day(emu, data_dir, LICENSOR, LOADED_DAY)
    assert not again.failures, again.failures
    assert lake_state(data_dir, LICENSOR, LOADED_DAY) == clean
    assert_no_partial_state(data_dir)


def _loads_like_clean(emu, tmp_path, clean, name: str, *specs: str, settle: float = 0.0, **kwargs) -> float:
    _faults(emu, *specs)
    data_dir = tmp_path / "data"
    started = time.monotonic()
    result = load_day(emu, data_dir, LICENSOR, LOADED_DAY, **kwargs)
    assert not result.failures, result.failures
    assert lake_state(data_dir, LICENSOR, LOADED_DAY) == clean
    assert_no_partial_state(data_dir)
    seconds = time.monotonic() - started
    time.sleep(settle)  # a slow response is logged when the server finally answers
    injected = len(emu.fault_log)
    assert injected > 0
    record("faults", name, f"{injected} injected; loaded, rows identical to the clean run")
    _rerun_matches_clean(emu, data_dir, clean)
    return seconds


def _assert_clear_failure(failure, report: str, *causes: str) -> None:
    message = str(failure)
    assert message.startswith(f"{report} for {LICENSOR} on {DAY} failed: "), message
    assert any(cause in message for cause in causes), message


def _assert_not_visible(data_dir, report: str) -> None:
    state = lake_state(data_dir, LICENSOR, LOADED_DAY)
    assert all(state[t.name] is None for t in report_named(report).tables)


def test_429_storm_honours_retry_after_and_loads_the_clean_rows(emu, tmp_path, clean):
    seconds = _loads_like_clean(
        emu, tmp_path, clean, "rate_limit (429 storm, Retry-After: 1)", "rate_limit:count=6,retry_after=1"
    )
    assert seconds >= 1.0  # the Retry-After was waited out, not ignored


def test_endless_429_fails_clearly_and_a_rerun_completes(emu, tmp_path, clean):
    _faults(emu, "rate_limit:count=0,retry_after=1,report=users")
    data_dir = tmp_path / "data"
    result = load_day(emu, data_dir, LICENSOR, LOADED_DAY)
    assert set(result.failures) == {"users"}
    _assert_clear_failure(result.failures["users"], "users", "429 Too Many Requests")
    assert not result.failures["users"].permanent  # Dagster may retry the step later
    _assert_not_visible(data_dir, "users")
    assert_no_partial_state(data_dir)
    record(
        "faults", "rate_limit endless (users)", "clear failure: 'users for acme on ... 429 Too Many Requests'"
    )
    _rerun_matches_clean(emu, data_dir, clean)


def test_5xx_bursts_are_retried(emu, tmp_path, clean):
    _loads_like_clean(
        emu,
        tmp_path,
        clean,
        "server_error (5xx bursts on listings and files)",
        "server_error:count=3",
        "server_error:count=3,scope=files,status=502/503",
    )


def test_connection_resets_mid_body_restart_the_download(emu, tmp_path, clean):
    _loads_like_clean(emu, tmp_path, clean, "reset (connection reset mid-body)", "reset:count=3")


def test_responses_slower_than_the_timeout_are_retried(emu, tmp_path, clean):
    _loads_like_clean(
        emu,
        tmp_path,
        clean,
        "slow (1 s response, 0.3 s timeout)",
        "slow:count=2,delay=1.0,scope=files",
        timeout=0.3,
        settle=1.0,
    )


def test_truncated_gzip_is_downloaded_again(emu, tmp_path, clean):
    _loads_like_clean(emu, tmp_path, clean, "truncate (gzip cut short)", "truncate:count=3")


def test_token_expiry_mid_run_with_429s_is_survived(emu, tmp_path, clean):
    """The review case: tokens live 1 s and every Retry-After outlives them."""
    _loads_like_clean(
        emu,
        tmp_path,
        clean,
        "token_expiry (ttl 1 s) + 429s",
        "token_expiry:ttl=1",
        "rate_limit:count=4,retry_after=1",
    )
    assert emu.count(method="POST", path_prefix="/api/token") >= 2


def test_malformed_lines_fail_clearly_under_the_default_share(emu, tmp_path, clean):
    _faults(emu, "malformed:lines=2")
    data_dir = tmp_path / "data"
    result = load_day(emu, data_dir, LICENSOR, LOADED_DAY)
    assert result.failures, "2 broken lines per file is far above the 1 % default"
    for report, failure in result.failures.items():
        _assert_clear_failure(failure, report, "lines rejected")
        assert failure.permanent
        _assert_not_visible(data_dir, report)
        rejects = data_dir / "rejects" / report / f"licensor={LICENSOR}" / f"date={DAY}" / "rejects.jsonl"
        first = json.loads(rejects.read_text().splitlines()[0])
        assert first["reason"].startswith("malformed JSON") and first["line"] >= 1 and first["source_file"]
    assert_no_partial_state(data_dir)
    record(
        "faults",
        "malformed (2 lines per file), 1 % share",
        f"{len(result.failures)} reports failed clearly: 'N of M lines rejected'",
    )
    _rerun_matches_clean(emu, data_dir, clean)


def test_malformed_lines_within_the_share_lose_only_those_lines(emu, tmp_path, clean):
    _faults(emu, "malformed:lines=2")
    data_dir = tmp_path / "data"
    result = load_day(emu, data_dir, LICENSOR, LOADED_DAY, max_reject_share=0.5)
    assert not result.failures, result.failures
    state = lake_state(data_dir, LICENSOR, LOADED_DAY)
    for report in REPORTS:
        landing = result.outcomes[report.name].landing
        assert landing.rejected > 0
        main = report.tables[0].name
        landed, reference = as_multiset(state[main]), as_multiset(clean[main])
        assert not landed - reference  # nothing invented or altered
        assert sum((reference - landed).values()) == landing.rejected  # exactly the broken lines lost
    assert_no_partial_state(data_dir)
    record(
        "faults",
        "malformed (2 lines per file), 50 % share",
        "loaded; clean rows minus exactly the rejected lines",
    )
    _rerun_matches_clean(emu, data_dir, clean)


def test_drift_extra_field_is_kept_in_extra(emu, tmp_path, clean):
    _faults(emu, "drift_extra:field=new_metric")
    data_dir = tmp_path / "data"
    result = load_day(emu, data_dir, LICENSOR, LOADED_DAY)
    assert not result.failures, result.failures
    state = lake_state(data_dir, LICENSOR, LOADED_DAY)
    for table in (*FLAT, "aggregated_summary"):
        # Ids land raw here (no pseudonymization), so personal reports keep undeclared fields as sent too.
        assert {r["_extra"] for r in state[table]} == {'{"new_metric":"drift"}'}
        assert [{**r, "_extra": None} for r in state[table]] == clean[table]
    for report in REPORTS:
        assert result.outcomes[report.name].landing.unknown_fields == {
            "new_metric": len(state[report.tables[0].name])
        }
    record(
        "faults",
        "drift_extra",
        "loaded; clean rows, the new field in _extra as sent, reported",
    )
    _rerun_matches_clean(emu, data_dir, clean)


def test_drift_missing_field_becomes_null(emu, tmp_path, clean):
    _faults(emu, "drift_missing")
    data_dir = tmp_path / "data"
    result = load_day(emu, data_dir, LICENSOR, LOADED_DAY)
    assert not result.failures, result.failures
    state = lake_state(data_dir, LICENSOR, LOADED_DAY)
    dropped = {
        "streams": "region_code",
        "sub30_streams": "region_code",
        "users": "account_age_days",
        "tracks": "label",
        "aggregated_summary": "listeners",
    }
    for table, column in dropped.items():
        assert {r[column] for r in state[table]} == {None}
        assert [{**r, column: None} for r in state[table]] == [{**r, column: None} for r in clean[table]]
    record("faults", "drift_missing", "loaded; clean rows with the missing field null")
    _rerun_matches_clean(emu, data_dir, clean)


def test_drift_type_rejects_uncastable_values_and_casts_the_rest(emu, tmp_path, clean):
    _faults(emu, "drift_type:lines=3")
    data_dir = tmp_path / "data"
    result = load_day(emu, data_dir, LICENSOR, LOADED_DAY, max_reject_share=0.5)
    assert not result.failures, result.failures
    state = lake_state(data_dir, LICENSOR, LOADED_DAY)
    for name in FLAT:
        landing = result.outcomes[name].landing
        assert landing.rejected > 0
        reasons = {json.loads(line)["reason"] for line in landing.rejects_path.read_text().splitlines()}
        assert all(r.startswith("field ") and "cannot cast" in r for r in reasons), reasons
        landed, reference = as_multiset(state[name]), as_multiset(clean[name])
        assert not landed - reference and sum((reference - landed).values()) == landing.rejected
    _faults(emu, "drift_type:lines=3,field=isrc,report=tracks")  # a number where text goes: cast
    other = tmp_path / "other"
    again = load_day(emu, other, LICENSOR, LOADED_DAY, reports=(report_named("tracks"),))
    assert again.outcomes["tracks"].landing.rejected == 0
    tracks = lake_state(other, LICENSOR, LOADED_DAY)["tracks"]
    assert sum(r["isrc"] == "12345" for r in tracks) == 3
    assert [{**r, "isrc": None} for r in tracks] == [{**r, "isrc": None} for r in clean["tracks"]]
    record("faults", "drift_type", "uncastable values rejected with field and reason; castable ones cast")
    _rerun_matches_clean(emu, data_dir, clean)


def test_empty_days_land_empty_partitions(emu, tmp_path, clean):
    _faults(emu, "empty")
    data_dir = tmp_path / "data"
    result = load_day(emu, data_dir, LICENSOR, LOADED_DAY)
    assert not result.failures, result.failures
    # Iceberg has no empty partition: a day without rows commits no data file (the ledger keeps
    # the load's outcome), so every table shows nothing for the day.
    assert lake_state(data_dir, LICENSOR, LOADED_DAY) == {table: None for table in TABLES_BY_NAME}
    assert all(outcome.available for outcome in result.outcomes.values())
    assert emu.expected(LICENSOR, LOADED_DAY) == dict.fromkeys(emu.expected(LICENSOR, LOADED_DAY), 0)
    assert_no_partial_state(data_dir)
    record("faults", "empty", "loaded; no rows committed (a day without data, not an error)")
    _rerun_matches_clean(emu, data_dir, clean)


def test_unpublished_day_is_not_available_and_writes_nothing(emu, tmp_path, clean):
    data_dir = tmp_path / "data"
    result = load_day(emu, data_dir, LICENSOR, EMULATOR_TODAY)
    assert not result.failures
    for report in REPORTS:
        outcome = result.outcomes[report.name]
        assert not outcome.available and outcome.not_available_reason.endswith("is not available yet")
    assert not (data_dir / "lake").exists() and not (data_dir / "archive").exists()
    # A file uri answering 404 (as if listed a moment ago) is a passing inconsistency, not "not
    # available": retried, then a failure that names it.
    uri = f"/{LICENSOR}/enhanced/users/{EMULATOR_TODAY:%Y/%m/%d}"
    remote = RemoteFile(uri=uri, country=None, name="users.json.gz")

    async def fetch():
        async with client_for(emu) as client:
            await client.download(remote, tmp_path)

    with pytest.raises(RetriesExhausted, match=f"GET /v1/analytics{uri} failed after 4 attempt"):
        asyncio.run(fetch())
    assert logged(lambda: emu.count(status=404), 4) == 4
    assert list(tmp_path.glob("*.part")) == []
    record("faults", "404 (day not published)", "not available yet; nothing written")
    _rerun_matches_clean(emu, data_dir, clean)


MIXED = (
    "rate_limit:count=3,retry_after=1",
    "server_error:count=3,scope=files",
    "reset:count=2",
    "slow:count=1,delay=1.0,scope=files",
    "truncate:count=2",
    "token_expiry:ttl=1",
    "malformed:lines=1",
    "drift_extra",
    "drift_missing",
    "empty:report=tracks",
)


def test_all_faults_mixed(emu, tmp_path, clean):
    """Every fault at once: the transport ones are survived, the content ones land what they should."""
    _faults(emu, *MIXED)
    data_dir = tmp_path / "data"
    # Faults compose: one request may meet several in turn (11 at most), so allow as many tries.
    patient = RetryPolicy(max_attempts=12, base_delay=0.02, max_delay=0.1, max_retry_after=1.0)
    result = load_day(emu, data_dir, LICENSOR, LOADED_DAY, max_reject_share=0.5, timeout=0.3, retry=patient)
    assert not result.failures, result.failures
    state = lake_state(data_dir, LICENSOR, LOADED_DAY)
    assert state["tracks"] is None  # every tracks row rejected: no rows committed for the day
    drop = ("_extra", "region_code", "account_age_days", "listeners")
    for report in REPORTS:
        if report.name == "tracks":
            continue
        main = report.tables[0].name
        landing = result.outcomes[report.name].landing
        landed, reference = as_multiset(state[main], drop=drop), as_multiset(clean[main], drop=drop)
        assert not landed - reference and sum((reference - landed).values()) == landing.rejected > 0
    unpublished = load_day(emu, data_dir, LICENSOR, EMULATOR_TODAY)
    assert all(not o.available for o in unpublished.outcomes.values())
    assert_no_partial_state(data_dir)
    kinds = sorted({kind for kind, _, _ in emu.fault_log})
    record(
        "faults",
        f"all mixed ({len(MIXED)} faults + 404)",
        f"loaded; transport faults survived ({', '.join(kinds)}), content as expected",
    )
    _rerun_matches_clean(emu, data_dir, clean)


def _resources(emu, data_dir):
    return {
        "bulk_api": emulator_bulk_api(emu, timeout_seconds=0.5),
        "lake": LakeResource(data_dir=str(data_dir)),
    }


def _through_dagster(emu, tmp_path, clean, specs: tuple[str, ...], selection: list[str] | None) -> int:
    """Materialize with faults (default 1 % share): failed steps say what failed; then a clean re-run."""
    _faults(emu, *specs)
    data_dir = tmp_path / "data"
    key = str(partition_key(LICENSOR, LOADED_DAY))
    run = {"partition_key": key, "resources": _resources(emu, data_dir), "selection": selection}
    with dg.instance_for_test() as instance:
        result = dg.materialize(lake_report_assets(), instance=instance, raise_on_error=False, **run)
        assert not result.success
        messages = [e.step_failure_data.error.message for e in result.get_step_failure_events()]
        assert messages and all(f"for {LICENSOR} on {DAY} failed" in m and "rejected" in m for m in messages)
        assert_no_partial_state(data_dir)
        emu.set_faults(FaultPlan())
        assert dg.materialize(lake_report_assets(), instance=instance, **run).success
    landed = {t: rows for t, rows in lake_state(data_dir, LICENSOR, LOADED_DAY).items() if rows is not None}
    assert landed and landed == {t: clean[t] for t in landed}
    return len(messages)


def test_content_faults_through_dagster_fail_clearly_then_rerun(emu, tmp_path, clean):
    failed = _through_dagster(
        emu, tmp_path, clean, ("malformed:lines=1", "drift_extra"), ["streams", "users"]
    )
    record(
        "faults",
        "malformed + drift_extra through Dagster (1 % share)",
        f"{failed} step(s) failed clearly; re-run succeeded",
    )


@pytest.mark.slow
def test_all_faults_mixed_through_dagster_fail_clearly_then_rerun(emu, tmp_path, clean):
    failed = _through_dagster(emu, tmp_path, clean, MIXED, None)
    record(
        "faults", "all mixed through Dagster (1 % share)", f"{failed} steps failed clearly; re-run succeeded"
    )
