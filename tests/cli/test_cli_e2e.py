"""`spotify-bulk` end to end: real subprocesses against the emulator over HTTP."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from pipeline.layout import Layout
from pipeline.reports import TABLES_BY_NAME
from tests.conftest import LOADED_DAY
from tests.kits.fake_lake import lake_tables, partition_row_count
from tests.kits.settings import runs_in


def _run(
    args: list[str], env: dict[str, str], cwd: Path, timeout: float = 300
) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "pipeline.cli.main", *args],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


@pytest.fixture
def cli_env(api_env: Path, tmp_path: Path) -> dict[str, str]:
    env = dict(os.environ)
    env["DAGSTER_HOME"] = str(tmp_path / "dagster_home")
    Path(env["DAGSTER_HOME"]).mkdir()
    env["SPOTIFY_BULK_STEP_RETRIES"] = "0"
    env["PYTHONPATH"] = str(Path(__file__).resolve().parents[2])
    return env


def _rows(data_dir: Path, table: str, licensor: str, day) -> int:
    return partition_row_count(Layout(data_dir), table, licensor, day)


def test_load_a_range_of_two_reports(cli_env, api_env, emulator, tmp_path):
    proc = _run(
        [
            "load",
            "--licensor",
            "acme",
            "--report",
            "streams",
            "--report",
            "sub_30_sec_streams",
            "--start",
            "2026-06-11",
            "--end",
            LOADED_DAY.isoformat(),
        ],
        cli_env,
        tmp_path,
    )
    assert proc.returncode == 0, proc.stderr
    assert "[2/2]" in proc.stdout and "2 of 2 partition runs succeeded" in proc.stdout
    for day in (LOADED_DAY.replace(day=11), LOADED_DAY):
        expected = emulator.expected("acme", day)
        assert _rows(api_env, "streams", "acme", day) == expected["streams"]
        assert _rows(api_env, "sub30_streams", "acme", day) == expected["sub30_streams"]
    assert not (api_env / "lake" / "users").exists()


def test_load_all_reports_for_two_licensors(cli_env, api_env, emulator, tmp_path):
    proc = _run(
        ["load", "--licensor", "acme", "--licensor", "globex", "--date", LOADED_DAY.isoformat()],
        cli_env,
        tmp_path,
    )
    assert proc.returncode == 0, proc.stderr
    for licensor in ("acme", "globex"):
        expected = emulator.expected(licensor, LOADED_DAY)
        assert {t: _rows(api_env, t, licensor, LOADED_DAY) for t in TABLES_BY_NAME} == {
            t: expected[t] for t in TABLES_BY_NAME
        }


def test_unpublished_day_is_reported_as_not_available(cli_env, emulator, tmp_path):
    proc = _run(
        ["load", "--licensor", "acme", "--report", "users", "--date", emulator.config.today.isoformat()],
        cli_env,
        tmp_path,
    )
    assert proc.returncode == 0, proc.stderr
    assert "not available yet: users" in proc.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["load", "--licensor", "acme", "--report", "plays", "--date", "1"], "unknown report 'plays'"),
        (["load", "--licensor", "acme", "--date", "2999-01-01"], "in the future"),
        (["load", "--licensor", "acme", "--start", "3", "--end", "9"], "is after the end"),
        (["load", "--licensor", "initech", "--date", "1"], "not in SPOTIFY_LICENSORS"),
        (["load", "--licensor", "../etc", "--date", "1"], "invalid licensor"),
    ],
)
def test_bad_arguments_fail_fast_with_a_clear_message(cli_env, tmp_path, args, message):
    proc = _run(args, cli_env, tmp_path, timeout=60)
    assert proc.returncode == 2
    assert message in proc.stderr
    assert "Traceback" not in proc.stderr


def test_wrong_credentials_fail_clearly_without_leaking_the_secret(cli_env, tmp_path):
    cli_env["SPOTIFY_CLIENT_SECRET"] = "s3cr3t-value-never-printed"
    proc = _run(
        ["load", "--licensor", "acme", "--report", "users", "--date", LOADED_DAY.isoformat()],
        cli_env,
        tmp_path,
    )
    assert proc.returncode == 1
    assert "failed" in proc.stderr and "credentials" in proc.stderr
    assert "s3cr3t-value-never-printed" not in proc.stdout + proc.stderr


def test_demo_lands_every_table_for_both_licensors_and_prints_no_library_noise(cli_env, tmp_path):
    for name in (
        "SPOTIFY_BULK_API_URL",
        "SPOTIFY_ACCOUNTS_URL",
        "SPOTIFY_CLIENT_ID",
        "SPOTIFY_CLIENT_SECRET",
    ):
        cli_env.pop(name)
    cli_env["SPOTIFY_BULK_DATA_DIR"] = str(tmp_path / "demo-data")
    proc = _run(["demo", "--days", "1", "--rows-per-day", "60"], cli_env, tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    # output for people: no library warnings (Dagster's BetaWarnings were ~90 lines), no tracebacks
    noise = [
        line for line in (proc.stdout + proc.stderr).splitlines() if "Warning" in line or "Traceback" in line
    ]
    assert noise == [], "\n".join(noise)
    layout = Layout(tmp_path / "demo-data")
    for table in TABLES_BY_NAME:
        partitions = lake_tables(layout).files(table)
        if table in ("streams", "users", "tracks", "aggregated_summary", "aggregated_count"):
            assert len(partitions) == 2, table
        else:  # a 60-row demo day may have no saves or skips for a licensor: no rows, no partition
            assert 1 <= len(partitions) <= 2, table
    assert "Next steps" in proc.stdout
    assert (layout.data_dir / "warehouse.duckdb").exists()
    assert "Top 10 tracks by streams" in proc.stdout
    # enrichment ran twice: every streamed track named; the re-run asked the Web API nothing
    assert re.search(r"\(100\.00%\) have a name and artists.*enrichment run: [\d,]+, 0 ", proc.stdout)
    # every step was a Dagster run, the warehouse build included
    jobs = {r.job_name for r in runs_in(cli_env["DAGSTER_HOME"], tags={"spotify/launched_by": "cli"})}
    assert jobs == {"bulk_reports_job", "catalog_job", "warehouse_job"}


def test_build_then_query_the_warehouse_read_only(cli_env, api_env, tmp_path):
    load = _run(["load", "--licensor", "acme", "--date", LOADED_DAY.isoformat()], cli_env, tmp_path)
    assert load.returncode == 0, load.stderr
    build = _run(["build", "--date", LOADED_DAY.isoformat()], cli_env, tmp_path)
    assert build.returncode == 0, build.stdout + build.stderr
    lake_rows = _rows(api_env, "streams", "acme", LOADED_DAY)
    query = _run(
        ["query", "SELECT sum(streams) AS s FROM fct_daily_streams WHERE licensor = 'acme'", "--format=csv"],
        cli_env,
        tmp_path,
    )
    assert query.returncode == 0, query.stderr
    assert query.stdout.split() == ["s", str(lake_rows)]
    refused = _run(["query", "DROP VIEW fct_daily_streams"], cli_env, tmp_path)
    assert refused.returncode == 2
    assert "read-only" in refused.stderr.lower()
