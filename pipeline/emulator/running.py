"""Starting, observing and stopping an emulator: the object tests and the CLI hold."""

from __future__ import annotations

import datetime
import shutil
import tempfile
import threading
from collections import Counter
from collections.abc import Iterable
from pathlib import Path
from typing import Self

from pipeline.emulator.accounts import TokenStore, token_handler
from pipeline.emulator.bulk import BASE_PATH, BulkAPI
from pipeline.emulator.cache import DayCache, warm_in_processes
from pipeline.emulator.config import EmulatorConfig
from pipeline.emulator.faults import FaultPlan, FaultState
from pipeline.emulator.router import Router
from pipeline.emulator.server import EmulatorHTTPServer
from pipeline.emulator.storage import StorageHost, StorageRequest
from pipeline.emulator.webapi import WEB_API_PATH, WebAPI

ACCOUNTS_PATH = "/api/token"


class EmulatorAddresses:
    """The API addresses under an emulator's `base_url` (in this process or a child's)."""

    base_url: str

    @property
    def bulk_api_url(self) -> str:
        return self.base_url + BASE_PATH

    @property
    def accounts_url(self) -> str:
        return self.base_url + ACCOUNTS_PATH

    @property
    def web_api_url(self) -> str:
        return self.base_url + WEB_API_PATH


class RunningEmulator(EmulatorAddresses):
    """An emulator serving on a background thread. A context manager; `stop()` ends it.

    With `downloads="signed"` a second server, the storage host, listens on another port
    (`storage_url`); `storage_requests` and `storage_requests_with_authorization` show what it saw.
    """

    def __init__(self, config: EmulatorConfig, host: str = "127.0.0.1", port: int = 0) -> None:
        self.config = config
        self._own_cache = config.cache_dir is None
        self.cache_dir = (
            Path(tempfile.mkdtemp(prefix="spotify-emulator-")) if self._own_cache else config.cache_dir
        )
        self._lock = threading.Lock()
        self._log: list[tuple[str, str, int]] = []
        self._fault_log: list[tuple[str, str, str]] = []
        self._versions: dict[tuple[str, datetime.date], int] = {}
        self._plan = config.faults
        self.tokens = TokenStore()
        self.cache = DayCache(self.cache_dir)
        self.bulk = BulkAPI(config, self.tokens, self.cache, lambda: self._plan, self._version)
        self.router = Router()  # the route table: add the Web API's routes here
        self.router.add(
            "POST",
            ACCOUNTS_PATH,
            token_handler(
                config.client_id, config.client_secret, self.tokens, lambda: self._plan.token_ttl(3600.0)
            ),
        )
        self.router.add("GET", BASE_PATH + r"(?P<rest>/.*)?", self.bulk.handle)
        self.web = WebAPI(config, self.tokens, lambda: self._plan)  # `web.calls` logs batch sizes
        self.web.register(self.router)
        self._state = FaultState(self._plan)
        self.storage: StorageHost | None = None  # the signed-download origin (downloads="signed")
        self._servers: list[tuple[EmulatorHTTPServer, threading.Thread]] = []
        try:
            self._server = self._listen((host, port), self.router, "spotify-emulator")
            if config.downloads == "signed":
                self.storage = StorageHost(
                    self.bulk.locate, config.signed_url_ttl_seconds, config.storage_content_encoding
                )
                storage_router = Router()
                self.storage.register(storage_router)
                self.storage.base_url = _url(
                    self._listen((host, 0), storage_router, "spotify-emulator-storage")
                )
                self.bulk.sign = self.storage.sign
        except OSError:  # e.g. the port is taken
            self._shutdown()
            raise
        self._stopped = False

    def _listen(self, address: tuple[str, int], router: Router, name: str) -> EmulatorHTTPServer:
        """Start one HTTP server (sharing the fault state and request log) on a background thread."""
        server = EmulatorHTTPServer(address, router, self._state, self._record)
        thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.05}, name=name, daemon=True
        )
        thread.start()
        self._servers.append((server, thread))
        return server

    # -- addresses ---------------------------------------------------------------------------
    @property
    def base_url(self) -> str:
        return _url(self._server)

    @property
    def storage_url(self) -> str | None:
        """The storage origin's base URL (signed downloads only; another port than `base_url`)."""
        return self.storage.base_url if self.storage else None

    # -- observing ---------------------------------------------------------------------------
    def _record(self, method: str, path: str, status: int, fault: str | None) -> None:
        with self._lock:
            self._log.append((method, path, status))
            if fault is not None:
                self._fault_log.append((fault, method, path))

    @property
    def request_log(self) -> list[tuple[str, str, int]]:
        """Every request answered so far, as (method, path, status), in order (a copy)."""
        with self._lock:
            return list(self._log)

    @property
    def fault_log(self) -> list[tuple[str, str, str]]:
        """Every transport fault injected so far, as (kind, method, path) (a copy)."""
        with self._lock:
            return list(self._fault_log)

    def count(self, *, status: int | None = None, method: str | None = None, path_prefix: str = "") -> int:
        """How many logged requests match all the given filters."""
        return sum(
            1
            for m, p, s in self.request_log
            if (status is None or s == status)
            and (method is None or m == method)
            and p.startswith(path_prefix)
        )

    @property
    def connections_opened(self) -> int:
        """TCP connections accepted so far (keep-alive clients reuse one)."""
        return self._server.connections_opened

    @property
    def storage_requests(self) -> list[StorageRequest]:
        """Every request the storage host answered: method, path, header names and status (a copy)."""
        return self.storage.requests if self.storage else []

    @property
    def storage_requests_with_authorization(self) -> int:
        """How many storage requests carried an `Authorization` header (a client bug: must stay 0)."""
        return self.storage.requests_with_authorization if self.storage else 0

    def status_counts(self) -> Counter[int]:
        return Counter(s for _, _, s in self.request_log)

    def clear_log(self) -> None:
        with self._lock:
            self._log.clear()
            self._fault_log.clear()
        if self.storage:
            self.storage.clear()

    def expected(self, licensor: str, date: datetime.date) -> dict[str, int]:
        """The row counts the emulator serves for a licensor-day, per lake table (see the module doc)."""
        return self.bulk.expected(licensor, date)

    def warm(
        self, days: Iterable[datetime.date], licensors: Iterable[str] | None = None, *, processes: int = 1
    ) -> None:
        """Generate days ahead of time, so a benchmark never waits for generation.

        With `processes` > 1 the days are generated in parallel by worker processes, into the
        shared disk cache, then loaded here.
        """
        wanted = [(lic, day) for lic in (licensors or self.config.licensors) for day in days]
        specs = [self.bulk.spec(lic, day) for lic, day in wanted]
        if processes > 1 and len(specs) > 1:
            warm_in_processes(self.cache_dir, specs, processes)
        for spec, faults in specs:
            self.cache.get(spec, faults)  # generated above, or now: either way loaded and indexed

    # -- changing it while it runs ------------------------------------------------------------
    def _version(self, licensor: str, day: datetime.date) -> int:
        with self._lock:
            return self._versions.get((licensor, day), 0)

    def republish(self, licensor: str, date: datetime.date, version: int) -> None:
        """Re-publish a day: a higher version serves changed content (late-arriving rows)."""
        if version < 0:
            raise ValueError("version must not be negative")
        with self._lock:
            self._versions[(licensor, date)] = version

    def set_faults(self, plan: FaultPlan) -> None:
        """Replace the fault plan; counters start afresh."""
        state = FaultState(plan)
        self._plan = plan
        self._state = state
        for server, _ in self._servers:
            server.faults = state

    @property
    def faults(self) -> FaultPlan:
        return self._plan

    # -- lifecycle ----------------------------------------------------------------------------
    def stop(self) -> None:
        if self._stopped:
            return
        self._stopped = True
        self._shutdown()

    def _shutdown(self) -> None:
        for server, thread in self._servers:
            server.shutdown()
            server.close_connections()
            server.server_close()
            thread.join(timeout=5)
        if self._own_cache:
            shutil.rmtree(self.cache_dir, ignore_errors=True)

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _url(server: EmulatorHTTPServer) -> str:
    host, port = server.server_address[:2]
    return f"http://{host}:{port}"


def start_emulator(config: EmulatorConfig, *, host: str = "127.0.0.1", port: int = 0) -> RunningEmulator:
    """Start an emulator on a background thread; returns once it is listening (port 0: a free port)."""
    return RunningEmulator(config, host, port)


def serve_forever(config: EmulatorConfig, host: str = "127.0.0.1", port: int = 0) -> None:
    """Run an emulator in the foreground until interrupted, printing where it listens and how to log in."""
    emulator = start_emulator(config, host=host, port=port)
    first, last = config.available()
    print(f"Spotify emulator listening on {emulator.base_url}", flush=True)
    print(f"  SPOTIFY_ACCOUNTS_URL={emulator.accounts_url}")
    print(f"  SPOTIFY_BULK_API_URL={emulator.bulk_api_url}")
    print(f"  SPOTIFY_WEB_API_URL={emulator.web_api_url}")
    print(f"  SPOTIFY_CLIENT_ID={config.client_id}")
    print(f"  SPOTIFY_CLIENT_SECRET={config.client_secret}")
    print(f"  SPOTIFY_LICENSORS={','.join(config.licensors)}")
    print(f"  days {first} .. {last}, {config.rows_per_day} stream rows per licensor-day, seed {config.seed}")
    print(f"  modes: {' '.join(f'{k}={v}' for k, v in config.modes().items())}")
    if emulator.storage_url:
        print(f"  signed downloads from {emulator.storage_url}")
    print(f"  faults: {config.faults}", flush=True)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        pass
    finally:
        emulator.stop()
