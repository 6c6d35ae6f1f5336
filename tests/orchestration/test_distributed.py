"""Steps on Celery workers with Dagster on PostgreSQL; `demo --distributed` end to end, stopped after.

The default suite runs one worker taking a partition's steps against the session's PostgreSQL, Redis
and moto S3 (about a minute less than the demo); the whole demo (SeaweedFS, PostgreSQL, Redis and two
workers, every report for two licensors) and its Ctrl-C trial are `slow` trials. PostgreSQL and Redis
are OS packages: skipped with the install command outside CI, failing under CI=true; SeaweedFS and
moto come from PyPI and are never a reason to skip.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import unquote, urlparse

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
    write_instance(home)
    pg_url = postgres_server.url("dagster_celery_test")
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
            "DAGSTER_PG_URL": pg_url,
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
    config = celery_config_dir(tmp_path / "celery")
    with start_celery_workers(["solo"], env, config, tmp_path / "logs") as workers:
        done = run_cli(load, env, ROOT, timeout=600)
    assert done.returncode == 0, done.stdout + done.stderr
    secrets = (postgres_server.password, redis_url.split(":")[2].split("@")[0])
    written = [
        p for p in tmp_path.rglob("*") if p.is_file() and any(s.encode() in p.read_bytes() for s in secrets)
    ]
    assert written == []  # the passwords went through the environment only
    assert not any(s in done.stdout + done.stderr for s in secrets)
    assert steps_per_worker(home, pg_url) == {workers[0].name: 2}  # one step per report, both on the worker
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


def _cmdlines() -> bytes:
    found = b""
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit():
            with contextlib.suppress(OSError):
                found += (proc / "cmdline").read_bytes() + b"\n"
    return found


def test_postgres_requires_its_generated_password_over_scram_on_loopback(postgres_server):
    import psycopg2

    assert len(postgres_server.password) >= 32 and postgres_server.password not in repr(postgres_server)
    with pytest.raises(psycopg2.OperationalError, match="password"):
        psycopg2.connect(host="127.0.0.1", port=postgres_server.port, user="postgres", connect_timeout=5)
    with pytest.raises(psycopg2.OperationalError, match="password authentication failed"):
        psycopg2.connect(
            host="127.0.0.1", port=postgres_server.port, user="postgres", password="guess", connect_timeout=5
        )
    connection = postgres_server.connect()
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT DISTINCT auth_method FROM pg_hba_file_rules")
            assert {row[0] for row in cursor.fetchall()} == {"scram-sha-256"}
            cursor.execute("SHOW listen_addresses")
            assert cursor.fetchone() == ("127.0.0.1",)
    finally:
        connection.close()
    assert postgres_server.password.encode() not in _cmdlines()


def _redis_says(port: int, *commands: bytes) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(b"".join(commands))
        time.sleep(0.2)
        return sock.recv(4096)


def test_redis_requires_its_generated_password_on_loopback(redis_url):
    parsed = urlparse(redis_url)
    password = unquote(parsed.password or "")
    assert parsed.hostname == "127.0.0.1" and len(password) >= 32
    assert _redis_says(parsed.port, b"PING\r\n").startswith(b"-NOAUTH")
    assert _redis_says(parsed.port, b"AUTH wrong\r\n").startswith(b"-WRONGPASS")
    assert _redis_says(parsed.port, f"AUTH {password}\r\nPING\r\n".encode()).startswith(b"+OK\r\n+PONG")
    assert password.encode() not in _cmdlines()


@pytest.mark.slow  # ~1 min each: starts every server again; the end-to-end test above checks a normal stop
@pytest.mark.parametrize(
    ("signum", "whole_group"),
    [
        (signal.SIGINT, True),  # Ctrl-C: the terminal signals its foreground group
        (signal.SIGTERM, False),  # `kill PID`
        (signal.SIGHUP, False),  # the terminal closed
    ],
    ids=["SIGINT (Ctrl-C)", "SIGTERM", "SIGHUP"],
)
def test_a_stop_signal_stops_every_process_the_demo_started(tmp_path, signum, whole_group):
    require(postgres_programs)
    require(redis_program)
    demo = _demo(tmp_path, "--days", "1", "--rows-per-day", "100")
    deadline = time.monotonic() + 600
    seen = []
    assert demo.stdout is not None
    for line in demo.stdout:
        seen.append(line)
        if line.startswith("$ spotify-bulk load") or time.monotonic() > deadline:
            break
    assert any(line.startswith("$ spotify-bulk load") for line in seen), "".join(seen)
    time.sleep(3)  # the load command (a process group of its own) is running its first steps
    assert len(_leftovers(str(tmp_path))) >= 6  # servers, workers and the load: what must all stop
    if whole_group:
        os.killpg(demo.pid, signum)
    else:
        os.kill(demo.pid, signum)
    demo.communicate(timeout=180)
    assert demo.returncode != 0
    time.sleep(1)
    assert _leftovers(str(tmp_path)) == []
