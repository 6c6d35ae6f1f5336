"""Steps on Celery workers with Dagster on PostgreSQL; `demo --distributed` end to end, stopped after.

The default suite runs one worker taking a partition's steps against the session's PostgreSQL, Redis
and moto S3 (about a minute less than the demo); the whole demo (SeaweedFS, PostgreSQL, Redis and two
workers, every report for two licensors) and its Ctrl-C trial are `slow` trials. PostgreSQL and Redis
are OS packages: skipped with the install command outside CI, failing under CI=true; SeaweedFS and
moto come from PyPI and are never a reason to skip.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from pipeline.cli.demo_distributed import steps_per_worker, write_instance
from pipeline.config import Settings, open_table_lake
from pipeline.orchestration.servers import (
    MissingServer,
    celery_config_dir,
    find_program,
    postgres_programs,
    redis_program,
    start_celery_workers,
)
from tests.cli.test_cli_e2e import _run as run_cli
from tests.conftest import LOADED_DAY
from tests.kits.servers import require

ROOT = Path(__file__).resolve().parents[2]


def _demo(tmp_path: Path, *extra: str) -> subprocess.Popen[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SPOTIFY_", "AWS_", "DAGSTER_"))}
    env |= {"SPOTIFY_BULK_DATA_DIR": str(tmp_path / "data"), "PYTHONPATH": str(ROOT)}
    args = [sys.executable, "-m", "pipeline.cli.main", "demo", "--distributed", *extra]
    out = {"stdout": subprocess.PIPE, "stderr": subprocess.STDOUT, "text": True}
    return subprocess.Popen(args, cwd=tmp_path, env=env, start_new_session=True, **out)


def _leftovers(marker: str) -> list[str]:
    """Processes still running whose command line or environment names `marker` (our data dir)."""
    found = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit() or int(proc.name) == os.getpid():
            continue
        try:
            text = (proc / "cmdline").read_bytes() + (proc / "environ").read_bytes()
        except OSError:
            continue
        if marker.encode() in text:
            found.append(f"{proc.name}: {(proc / 'cmdline').read_bytes()[:120]!r}")
    return found


def test_a_missing_program_is_named_with_its_install_command():
    with pytest.raises(MissingServer, match=r"^PostgreSQL not found: apt-get install postgresql$"):
        find_program("no-such-initdb-here", "PostgreSQL: apt-get install postgresql")


def test_a_celery_worker_runs_the_steps_of_a_load_with_dagster_on_postgres(
    api_env, postgres_server, redis_url, moto_store, tmp_path
):
    postgres_server.create_database("dagster_celery_test")
    home = tmp_path / "dagster_home"
    write_instance(home, postgres_server.url("dagster_celery_test"))
    store = {
        "AWS_ENDPOINT_URL": moto_store.endpoint,
        "AWS_ACCESS_KEY_ID": moto_store.access_key_id,
        "AWS_SECRET_ACCESS_KEY": moto_store.secret_access_key,
    }
    env = (
        os.environ
        | store
        | {
            "DAGSTER_HOME": str(home),
            "PYTHONPATH": str(ROOT),
            "SPOTIFY_BULK_EXECUTOR": "celery",
            "SPOTIFY_BULK_CELERY_BROKER": redis_url,
            "SPOTIFY_BULK_LAKE_URL": "s3://celery-lake/lake",
            "SPOTIFY_BULK_STEP_RETRIES": "0",
        }
    )
    load = [
        "load",
        "--licensor",
        "acme",
        "--report",
        "tracks",
        "--report",
        "users",
        "--date",
        str(LOADED_DAY),
    ]
    config = celery_config_dir(tmp_path / "celery", redis_url, redis_url)
    with start_celery_workers(["solo"], env, config, tmp_path / "logs") as workers:
        done = run_cli(load, env, ROOT, timeout=600)
    assert done.returncode == 0, done.stdout + done.stderr
    assert steps_per_worker(home) == {workers[0].name: 2}  # one step per report, both on the worker
    lake = open_table_lake(
        Settings(data_dir=api_env, lake_url="s3://celery-lake/lake", object_store=moto_store)
    )
    assert {"tracks", "users"} <= set(lake.table_names())  # committed by the worker
    assert lake.read("users", licensor="acme", day=LOADED_DAY).num_rows > 0


@pytest.mark.slow  # ~2.5 min: every server and two workers; the Celery test above runs in the default suite
def test_demo_distributed_runs_the_steps_on_two_workers_and_stops_everything(tmp_path):
    require(postgres_programs)
    require(redis_program)
    demo = _demo(tmp_path, "--days", "1", "--rows-per-day", "100")
    out, _ = demo.communicate(timeout=900)
    assert demo.returncode == 0, out
    counts = dict(re.findall(r"^worker (worker-\d)@\S+: (\d+) steps$", out, re.MULTILINE))
    assert set(counts) == {"worker-1", "worker-2"}
    assert sum(int(n) for n in counts.values()) == 10  # 2 partitions x 5 report steps
    assert "Lake at s3://spotify-bulk-demo/lake" in out
    assert re.search(r"^streams\s+2\s+[\d,]+", out, re.MULTILINE)
    assert "Published" in out
    assert _leftovers(str(tmp_path)) == []


@pytest.mark.slow  # ~1 min: starts every server again; the end-to-end test above checks a normal stop
def test_ctrl_c_stops_every_server_the_demo_started(tmp_path):
    require(postgres_programs)
    require(redis_program)
    demo = _demo(tmp_path, "--days", "1", "--rows-per-day", "100")
    deadline = time.monotonic() + 600
    seen = []
    assert demo.stdout is not None
    for line in demo.stdout:
        seen.append(line)
        if "Celery workers ready" in line or time.monotonic() > deadline:
            break
    assert any("Celery workers ready" in line for line in seen), "".join(seen)
    os.killpg(demo.pid, signal.SIGINT)  # what Ctrl-C sends to the terminal's foreground group
    demo.communicate(timeout=120)
    assert demo.returncode != 0
    time.sleep(1)
    assert _leftovers(str(tmp_path)) == []
