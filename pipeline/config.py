"""The one reader of the environment: every setting, read once at start-up into a typed `Settings`.

Nothing else in the project reads `os.environ`; commands, the Dagster definitions loader and the
tests call `load_settings()` (or build a `Settings` themselves) and pass it down. Nothing is read at
import time. `.env` in the working directory is loaded first; variables already set win, and its
values enter the process environment so Dagster's `EnvVar` secrets resolve at run time.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field, fields, replace
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from pipeline.clients.connection import (
    DEFAULT_ACCOUNTS_URL,
    DEFAULT_BULK_API_URL,
    DEFAULT_MAX_RETRY_AFTER_SECONDS,
    DEFAULT_WEB_API_URL,
    Connection,
)
from pipeline.errors import UsageError
from pipeline.layout import safe_name
from pipeline.storage.object_store import ObjectStoreSettings

if TYPE_CHECKING:
    from pipeline.storage.tables import TableLake

CLIENT_ID_ENV = "SPOTIFY_CLIENT_ID"
CLIENT_SECRET_ENV = "SPOTIFY_CLIENT_SECRET"  # noqa: S105 - a variable's name, not a secret
PSEUDONYM_KEY_ENV = "SPOTIFY_BULK_PSEUDONYM_KEY"
LICENSORS_ENV = "SPOTIFY_LICENSORS"
FIELD_MAP_ENV = "SPOTIFY_BULK_FIELD_MAP"
DEFAULT_DATA_DIR = "./data"
DEFAULT_START_DATE = date(2025, 1, 1)
DEFAULT_LOOKBACK_DAYS = 3
MAX_LOOKBACK_DAYS = 30  # offline plays are counted up to about 30 days late
# How long a reader of an earlier `warehouse.duckdb` keeps its files: see WarehouseOptions.
DEFAULT_READER_GRACE_SECONDS = 3600.0
DEFAULT_WEB_API_RATE_LIMIT = 150
DEFAULT_API_POOL_LIMIT = 4
DEMO_LICENSORS = ("acme", "globex")
# The demo's listeners are synthetic, so its key is public; real installs set their own secret.
DEMO_PSEUDONYM_KEY = "spotify-bulk-etl-demo-key-not-a-secret"
_TRUE, _FALSE = ("1", "true", "yes", "on"), ("0", "false", "no", "off")
_MB = 1_000_000
DUCKDB_MEMORY_SHARE = 16  # of physical RAM; builds work in date chunks and spill past the limit
DUCKDB_MEMORY_FLOOR_MB, DUCKDB_MEMORY_CAP_MB = 256, 512
DUCKDB_MAX_THREADS = 4

Executor = Literal["in_process", "celery"]
EXECUTORS: tuple[Executor, ...] = ("in_process", "celery")
DEFAULT_CELERY_BROKER = "redis://127.0.0.1:6379/0"
WebApiMode = Literal["auto", "batch", "single"]
WEB_API_MODES: tuple[WebApiMode, ...] = ("auto", "batch", "single")


@dataclass(frozen=True)
class PrivacySettings:
    """How personal columns land: pseudonymized user ids (keyed HMAC), region codes dropped."""

    pseudonymize: bool = True
    key: str = field(default="", repr=False)
    drop_region: bool = False
    # Rejected lines are quoted with personal values pseudonymized, or dropped when not pseudonymizing;
    # True keeps them as sent in the latter case (SPOTIFY_BULK_RAW_REJECTS=1).
    raw_rejects: bool = False


@dataclass(frozen=True)
class RiskSettings:
    """Thresholds of the artificial-streaming early warning (docs/risk.md says why each default).

    Each is `SPOTIFY_BULK_RISK_<NAME>` in the environment; the SQL models read them as DuckDB
    variables `risk_<name>` (`pipeline/risk/thresholds.py`), so a changed threshold needs a rebuild.
    """

    loop_plays: int = 8  # plays of one track by one listener in a day that make a loop
    short_max_ms: int = 35_000  # "just over the threshold": streams of 30 s up to this length
    short_share: float = 0.5  # a listener's share of such plays that marks them
    new_account_days: int = 30  # accounts younger than this are new
    context_free_share: float = 0.8  # a listener's share of plays with no source and no context
    regular_min_plays: int = 5  # plays needed before spacing is judged
    regular_cv: float = 0.1  # gaps between plays this even (std / mean) are clockwork
    throwaway_new_share: float = 0.5  # a playlist whose day's listeners are this new is a throwaway
    min_markers: int = 2  # bot markers a looping listener needs to be suspicious
    lockstep_min_users: int = 8  # users in a lockstep block
    lockstep_min_tracks: int = 5  # tracks the block's users all stream
    lockstep_coverage: float = 0.7  # share of the block's tracks each member streams
    lockstep_focus: float = 0.8  # share of a member's streams that go to the block's tracks
    flag_share: float = 0.15  # artificial share of a track's day that flags it
    flag_min_streams: int = 10  # suspicious streams a flagged track-day has at least
    fee_eur: float = 10.0  # EUR per flagged track per month (the DSP's artificial-streaming fee)

    def __post_init__(self) -> None:
        for name in ("short_share", "context_free_share", "throwaway_new_share", "lockstep_coverage",
                     "lockstep_focus", "flag_share"):  # fmt: skip
            if not 0 < getattr(self, name) <= 1:
                raise UsageError(f"SPOTIFY_BULK_RISK_{name.upper()} must be a share in (0, 1]")
        if (
            min(self.loop_plays, self.regular_min_plays, self.lockstep_min_users, self.lockstep_min_tracks)
            < 2
        ):
            raise UsageError("SPOTIFY_BULK_RISK_* play, user and track counts must be at least 2")
        if (
            self.fee_eur < 0
            or self.short_max_ms <= 30_000
            or self.new_account_days < 1
            or self.min_markers < 1
        ):
            raise UsageError(
                "SPOTIFY_BULK_RISK_FEE_EUR must be >= 0, SHORT_MAX_MS > 30000, "
                "NEW_ACCOUNT_DAYS and MIN_MARKERS >= 1"
            )


def _risk_kinds() -> dict[str, type]:
    return {item.name: int if item.type in ("int", int) else float for item in fields(RiskSettings)}


def risk_settings_from(env: Mapping[str, str]) -> RiskSettings:
    """`RiskSettings` from `SPOTIFY_BULK_RISK_<NAME>` variables (unset: the documented default)."""
    defaults = RiskSettings()
    values: dict[str, Any] = {
        name: kind(_number(env, f"SPOTIFY_BULK_RISK_{name.upper()}", getattr(defaults, name), kind))
        for name, kind in _risk_kinds().items()
    }
    return RiskSettings(**values)


def risk_settings_of(values: Mapping[str, float]) -> RiskSettings:
    """`RiskSettings` back from its field values (as a Dagster resource's config carries them)."""
    kinds = _risk_kinds()
    typed: dict[str, Any] = {name: kinds[name](value) for name, value in values.items() if name in kinds}
    return RiskSettings(**typed)


@dataclass(frozen=True)
class Settings:
    """Everything the environment configures, typed. Secrets are held but never shown in `repr`.

    `secrets_from_env` says whether the credentials and the pseudonym key came from the environment;
    then the Dagster resources wire them as `EnvVar`s, so their values never enter Dagster's storage.
    """

    bulk: Connection = field(default_factory=lambda: Connection(DEFAULT_BULK_API_URL))
    web: Connection = field(
        default_factory=lambda: Connection(DEFAULT_WEB_API_URL, timeout=30.0, max_concurrency=4)
    )
    licensors: tuple[str, ...] = ()
    data_dir: Path = Path(DEFAULT_DATA_DIR)
    start_date: date = DEFAULT_START_DATE
    lookback_days: int = DEFAULT_LOOKBACK_DAYS
    max_reject_share: float = 0.01
    # The share by which an aggregated count may differ from its stream rows (0: exactly equal).
    reconcile_tolerance: float = 0.0
    reader_grace_seconds: float = DEFAULT_READER_GRACE_SECONDS
    step_retries: int = 2
    api_pool_limit: int = DEFAULT_API_POOL_LIMIT
    web_api_rate_limit: int = DEFAULT_WEB_API_RATE_LIMIT
    web_api_mode: WebApiMode = "auto"
    privacy: PrivacySettings = field(default_factory=PrivacySettings)
    field_map: Path | None = None
    dagster_home: Path | None = None
    duckdb_memory_limit: str = field(default_factory=lambda: default_duckdb_memory_limit())
    duckdb_threads: int = field(default_factory=lambda: default_duckdb_threads())
    secrets_from_env: bool = False
    # Where the Iceberg tables' data and metadata live: empty, `{data_dir}/lake` (the default); or
    # s3://bucket/prefix (or a local path). Committed through `catalog_uri` either way.
    lake_url: str = ""
    archive_url: str = ""  # s3://bucket/prefix: originals also kept there as write-once objects
    catalog_uri: str = ""  # SQLAlchemy URL of the Iceberg SQL catalog; empty: a SQLite file in data_dir
    object_store: ObjectStoreSettings = field(default_factory=ObjectStoreSettings)
    # in_process: each load run's steps in this process (the default). celery: steps go through
    # the broker to Celery workers on any number of machines (see README, "Running at scale").
    executor: Executor = "in_process"
    celery_broker: str = DEFAULT_CELERY_BROKER
    celery_backend: str = ""  # empty: the broker
    risk: RiskSettings = field(default_factory=RiskSettings)

    def __post_init__(self) -> None:
        if not 0 <= self.lookback_days <= MAX_LOOKBACK_DAYS:
            raise UsageError(
                f"SPOTIFY_BULK_LOOKBACK_DAYS must be 0..{MAX_LOOKBACK_DAYS}, not {self.lookback_days}"
            )
        if not 0 <= self.max_reject_share <= 1:
            raise UsageError("SPOTIFY_BULK_MAX_REJECT_SHARE must be a share between 0 and 1")
        if not 0 <= self.reconcile_tolerance < 1:
            raise UsageError("SPOTIFY_BULK_RECONCILE_TOLERANCE must be a share from 0 (exact) to below 1")
        if not self.reader_grace_seconds >= 0:  # NaN too
            raise UsageError("SPOTIFY_BULK_READER_GRACE_SECONDS must be 0 or more seconds")
        if self.executor not in EXECUTORS:
            raise UsageError(f"SPOTIFY_BULK_EXECUTOR must be one of {', '.join(EXECUTORS)}")
        if self.web_api_mode not in WEB_API_MODES:
            raise UsageError(f"SPOTIFY_WEB_API_MODE must be one of {', '.join(WEB_API_MODES)}")
        if self.duckdb_threads < 0:
            raise UsageError("SPOTIFY_BULK_DUCKDB_THREADS must be 0 (DuckDB's default) or more")

    @property
    def lake_dir(self) -> Path:
        """The data directory, absolute (relative settings resolve against the start-up directory)."""
        return self.data_dir.resolve()

    @property
    def table_lake(self) -> bool:
        """Whether the tables live somewhere other than the data directory (object storage)."""
        return bool(self.lake_url)

    @property
    def lake_location(self) -> str:
        """Where the tables' files are: the configured URL, else `{data_dir}/lake`."""
        return self.lake_url or str(self.lake_dir / "lake")

    @property
    def iceberg_catalog_uri(self) -> str:
        """The catalog's SQLAlchemy URL: the configured one, else `{data_dir}/catalog.db`."""
        return self.catalog_uri or f"sqlite:///{self.lake_dir / 'catalog.db'}"

    def require_licensors(self, what: str) -> tuple[str, ...]:
        """The licensors, or a clear error naming the variable (there is no silent demo default)."""
        if not self.licensors:
            raise UsageError(
                f"{LICENSORS_ENV} is not set: {what} needs the licensor names from your Bulk API welcome "
                f"email, comma-separated (e.g. {LICENSORS_ENV}=my-label). `spotify-bulk demo` needs none."
            )
        return self.licensors

    def with_changes(self, **changes: object) -> Settings:
        return replace(self, **changes)  # type: ignore[arg-type]


def _physical_memory() -> int | None:
    """Bytes of RAM, or None where the platform does not say."""
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (AttributeError, OSError, ValueError):
        return None


def default_duckdb_memory_limit() -> str:
    """A 16th of RAM, 256-512 MB: a warehouse process's peak RSS is DuckDB's limit plus what it
    allocates outside its buffer pool, Python and Arrow (~300-450 MB measured), so the cap keeps any
    process under 1 GB on a machine shared with other work; builds read history in date chunks, so
    more memory buys little, and DuckDB spills past it."""
    ram = _physical_memory()
    share = ram // DUCKDB_MEMORY_SHARE // _MB if ram else DUCKDB_MEMORY_CAP_MB
    return f"{max(DUCKDB_MEMORY_FLOOR_MB, min(share, DUCKDB_MEMORY_CAP_MB))}MB"


def default_duckdb_threads() -> int:
    """The cores this process may run on, at most 4 (each thread needs its share of the limit)."""
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:
        cores = os.cpu_count() or 1
    return max(1, min(cores, DUCKDB_MAX_THREADS))


def parse_licensors(raw: str | None) -> tuple[str, ...]:
    """Split a comma-separated licensor list, validating each name as a path segment."""
    names = [part.strip() for part in (raw or "").split(",") if part.strip()]
    try:
        return tuple(dict.fromkeys(safe_name(n, what="licensor") for n in names))
    except ValueError as exc:
        raise UsageError(str(exc)) from None


def _flag(env: Mapping[str, str], name: str, *, default: bool) -> bool:
    """A boolean setting (1/true/yes/on or 0/false/no/off); a typo is an error, not a silent default."""
    raw = (env.get(name) or "").strip().lower()
    if not raw:
        return default
    if raw in _TRUE or raw in _FALSE:
        return raw in _TRUE
    raise UsageError(f"{name}={env.get(name)!r} is not understood: use 1/true/on or 0/false/off")


def _number(env: Mapping[str, str], name: str, default: float, kind: type = int) -> float:
    raw = (env.get(name) or "").strip()
    if not raw:
        return default
    try:
        return kind(raw)
    except ValueError:
        raise UsageError(f"{name}={raw!r} is not a {'whole ' if kind is int else ''}number") from None


def _date(env: Mapping[str, str], name: str, default: date) -> date:
    raw = (env.get(name) or "").strip()
    try:
        return date.fromisoformat(raw) if raw else default
    except ValueError:
        raise UsageError(f"{name}={raw!r} is not a date (YYYY-MM-DD)") from None


def settings_from(env: Mapping[str, str]) -> Settings:
    """Settings from a mapping of environment variables (tests pass their own)."""
    credentials = {"client_id": env.get(CLIENT_ID_ENV, ""), "client_secret": env.get(CLIENT_SECRET_ENV, "")}
    accounts_url = env.get("SPOTIFY_ACCOUNTS_URL") or DEFAULT_ACCOUNTS_URL
    max_wait = float(_number(env, "SPOTIFY_MAX_RETRY_AFTER_SECONDS", DEFAULT_MAX_RETRY_AFTER_SECONDS, float))
    field_map = (env.get(FIELD_MAP_ENV) or "").strip()
    home = (env.get("DAGSTER_HOME") or "").strip()
    return Settings(
        bulk=Connection(
            env.get("SPOTIFY_BULK_API_URL") or DEFAULT_BULK_API_URL,
            accounts_url,
            max_retry_after=max_wait,
            **credentials,
        ),
        web=Connection(
            env.get("SPOTIFY_WEB_API_URL") or DEFAULT_WEB_API_URL,
            accounts_url,
            timeout=30.0,
            max_concurrency=4,
            max_retry_after=max_wait,
            **credentials,
        ),
        licensors=parse_licensors(env.get(LICENSORS_ENV)),
        data_dir=Path(env.get("SPOTIFY_BULK_DATA_DIR") or DEFAULT_DATA_DIR),
        start_date=_date(env, "SPOTIFY_BULK_START_DATE", DEFAULT_START_DATE),
        lookback_days=int(_number(env, "SPOTIFY_BULK_LOOKBACK_DAYS", DEFAULT_LOOKBACK_DAYS)),
        max_reject_share=float(_number(env, "SPOTIFY_BULK_MAX_REJECT_SHARE", 0.01, float)),
        reconcile_tolerance=float(_number(env, "SPOTIFY_BULK_RECONCILE_TOLERANCE", 0.0, float)),
        reader_grace_seconds=float(
            _number(env, "SPOTIFY_BULK_READER_GRACE_SECONDS", DEFAULT_READER_GRACE_SECONDS, float)
        ),
        step_retries=int(_number(env, "SPOTIFY_BULK_STEP_RETRIES", 2)),
        api_pool_limit=int(_number(env, "SPOTIFY_API_POOL_LIMIT", DEFAULT_API_POOL_LIMIT)),
        web_api_rate_limit=int(_number(env, "SPOTIFY_WEB_API_RATE_LIMIT", DEFAULT_WEB_API_RATE_LIMIT)),
        web_api_mode=(env.get("SPOTIFY_WEB_API_MODE") or "auto").strip().lower(),  # type: ignore[arg-type]
        privacy=PrivacySettings(
            pseudonymize=_flag(env, "SPOTIFY_BULK_PSEUDONYMIZE", default=True),
            key=env.get(PSEUDONYM_KEY_ENV, ""),
            drop_region=_flag(env, "SPOTIFY_BULK_DROP_REGION", default=False),
            raw_rejects=_flag(env, "SPOTIFY_BULK_RAW_REJECTS", default=False),
        ),
        field_map=Path(field_map) if field_map else None,
        dagster_home=Path(home) if home else None,
        duckdb_memory_limit=(env.get("SPOTIFY_BULK_DUCKDB_MEMORY_LIMIT") or "").strip()
        or default_duckdb_memory_limit(),
        duckdb_threads=int(_number(env, "SPOTIFY_BULK_DUCKDB_THREADS", default_duckdb_threads())),
        secrets_from_env=True,
        lake_url=(env.get("SPOTIFY_BULK_LAKE_URL") or "").strip().rstrip("/"),
        catalog_uri=(env.get("SPOTIFY_BULK_CATALOG_URI") or "").strip(),
        archive_url=(env.get("SPOTIFY_BULK_ARCHIVE_URL") or "").strip().rstrip("/"),
        object_store=object_store_from(env),
        executor=(env.get("SPOTIFY_BULK_EXECUTOR") or "in_process").strip().lower(),  # type: ignore[arg-type]
        celery_broker=(env.get("SPOTIFY_BULK_CELERY_BROKER") or DEFAULT_CELERY_BROKER).strip(),
        celery_backend=(env.get("SPOTIFY_BULK_CELERY_BACKEND") or "").strip(),
        risk=risk_settings_from(env),
    )


def object_store_from(env: Mapping[str, str]) -> ObjectStoreSettings:
    """The S3 endpoint and credentials from the standard AWS_* variables."""
    return ObjectStoreSettings(
        endpoint=(env.get("AWS_ENDPOINT_URL_S3") or env.get("AWS_ENDPOINT_URL") or "").strip(),
        region=(env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION") or "us-east-1").strip(),
        access_key_id=env.get("AWS_ACCESS_KEY_ID", ""),
        secret_access_key=env.get("AWS_SECRET_ACCESS_KEY", ""),
        session_token=env.get("AWS_SESSION_TOKEN", ""),
        timeout=float(_number(env, "SPOTIFY_BULK_OBJECT_STORE_TIMEOUT", 30.0, float)),
    )


def object_store_from_environment() -> ObjectStoreSettings:
    """The object store as the process running a step sees it: credentials never enter run config."""
    return object_store_from(os.environ)


def open_table_lake(settings: Settings) -> TableLake:
    """The lake's Iceberg tables: `catalog.db` and `lake/` in the data directory by default; the
    configured catalog (SPOTIFY_BULK_CATALOG_URI) and location (SPOTIFY_BULK_LAKE_URL, its bucket
    created if missing) otherwise. One code path: only the URI and the location differ."""
    from pipeline.storage.tables import TableLake

    settings.lake_dir.mkdir(parents=True, exist_ok=True)
    if not settings.catalog_uri and not settings.lake_url:
        return TableLake.local(settings.lake_dir)
    return TableLake.open(settings.iceberg_catalog_uri, settings.lake_location, settings.object_store)


def tables_for(data_dir: Path) -> TableLake:
    """The Iceberg tables of `data_dir` as this process is configured: the catalog and location in
    its environment (SPOTIFY_BULK_CATALOG_URI, SPOTIFY_BULK_LAKE_URL: object storage, PostgreSQL),
    else the data directory's own `catalog.db` and `lake/`."""
    env = os.environ
    settings = Settings(
        data_dir=data_dir,
        lake_url=(env.get("SPOTIFY_BULK_LAKE_URL") or "").strip().rstrip("/"),
        catalog_uri=(env.get("SPOTIFY_BULK_CATALOG_URI") or "").strip(),
        object_store=object_store_from(env),
    )
    return open_table_lake(settings)


def reader_object_store() -> ObjectStoreSettings | None:
    """The object store published catalogs' files are in, when this process's lake is on one."""
    if not (os.environ.get("SPOTIFY_BULK_LAKE_URL") or "").strip().startswith("s3://"):
        return None
    return object_store_from(os.environ)


def load_settings(*, cwd: Path | None = None) -> Settings:
    """Read `.env` (set variables win) and the process environment, once, at start-up."""
    from dotenv import load_dotenv

    load_dotenv((cwd or Path.cwd()) / ".env", override=False)
    return settings_from(os.environ)


def set_process_defaults() -> None:
    """Environment that Dagster itself reads (not ours): no telemetry from any command."""
    os.environ.setdefault("DAGSTER_TELEMETRY_DISABLED", "1")


@contextlib.contextmanager
def environment_variable(name: str, value: str) -> Iterator[None]:
    """`name` set in this process's environment for the block (Dagster reads its config from it)."""
    previous = os.environ.get(name)
    os.environ[name] = value
    try:
        yield
    finally:
        if previous is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = previous


def child_environment(**overrides: str) -> dict[str, str]:
    """This process's environment with some variables set: for a child process we start."""
    return {**os.environ, **overrides}
