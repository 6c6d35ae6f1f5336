"""Dagster resources: thin, typed faces over the plain clients and settings in `pipeline/`.

Both API resources share one shape (`ApiResource`, the fields of a `Connection`); secrets are wired
as `dg.EnvVar`s when they came from the environment, so their values never reach Dagster's storage.
"""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING

import dagster as dg
from pydantic import Field

from pipeline.clients.bulk_api import BulkApiClient
from pipeline.clients.connection import DEFAULT_MAX_RETRY_AFTER_SECONDS, Connection
from pipeline.clients.web_api import DEFAULT_RATE_LIMIT, WebApiClient
from pipeline.config import (
    CLIENT_ID_ENV,
    CLIENT_SECRET_ENV,
    DEFAULT_LOOKBACK_DAYS,
    DEFAULT_READER_GRACE_SECONDS,
    PSEUDONYM_KEY_ENV,
    Settings,
    object_store_from_environment,
    open_table_lake,
    risk_settings_of,
)
from pipeline.ingest.archive import ArchivedPartition
from pipeline.ingest.archive_store import mirror_partition
from pipeline.ingest.landing import LandingOptions
from pipeline.ingest.landing.privacy import Privacy
from pipeline.layout import Layout

if TYPE_CHECKING:  # imported where a warehouse step asks: a load step never loads DuckDB (~20 MB)
    from pipeline.warehouse.options import WarehouseOptions


class ApiResource(dg.ConfigurableResource):
    """One Spotify API: where it is, the app's credentials, and how patient to be."""

    client_id: str
    client_secret: str
    base_url: str
    accounts_url: str
    timeout_seconds: float = Field(default=60.0, description="Connect/read timeout per request.")
    max_concurrency: int = Field(default=8, description="Requests in flight at once.")
    max_retry_after_seconds: float = Field(
        default=DEFAULT_MAX_RETRY_AFTER_SECONDS,
        description="Longest Retry-After slept through; a longer one (a quota ban) ends the step.",
    )

    def connection(self) -> Connection:
        return Connection(
            self.base_url,
            self.accounts_url,
            client_id=self.client_id,
            client_secret=self.client_secret,
            timeout=self.timeout_seconds,
            max_concurrency=self.max_concurrency,
            max_retry_after=self.max_retry_after_seconds,
        )


def _api_fields(connection: Connection, *, secrets_from_env: bool) -> dict[str, object]:
    return {
        "client_id": dg.EnvVar(CLIENT_ID_ENV) if secrets_from_env else connection.client_id,
        "client_secret": dg.EnvVar(CLIENT_SECRET_ENV) if secrets_from_env else connection.client_secret,
        "base_url": connection.base_url,
        "accounts_url": connection.accounts_url,
        "timeout_seconds": connection.timeout,
        "max_concurrency": connection.max_concurrency,
        "max_retry_after_seconds": connection.max_retry_after,
    }


class BulkApiResource(ApiResource):
    """Spotify Bulk API access with client credentials."""

    def client(self) -> BulkApiClient:
        return BulkApiClient(self.connection())


class WebApiResource(ApiResource):
    """Spotify Web API access for catalog enrichment, with a client-side rate budget."""

    timeout_seconds: float = Field(default=30.0, description="Connect/read timeout per request.")
    max_concurrency: int = Field(default=4, description="Web API requests in flight at once.")
    rate_limit: int = Field(
        default=DEFAULT_RATE_LIMIT, description="Most requests sent in any rolling window (Spotify: 30 s)."
    )
    rate_window_seconds: float = Field(default=30.0, description="Length of the rolling rate window.")
    mode: str = Field(
        default="auto",
        description="batch, single (one id per request: development-mode apps) or auto (batch until a 403).",
    )

    def client(self) -> WebApiClient:
        return WebApiClient(
            self.connection(),
            rate_limit=self.rate_limit,
            rate_window=self.rate_window_seconds,
            mode=self.mode,
        )


class LakeResource(dg.ConfigurableResource):
    """Where the archive, lake and warehouse live, how strict landing is, how builds may run."""

    data_dir: str = "./data"
    max_reject_share: float = Field(
        default=0.01, description="Fail a load when rejected lines exceed this share of all lines."
    )
    pseudonymize: bool = Field(default=False, description="Land user_id as an HMAC-SHA256 pseudonym.")
    pseudonym_key: str = Field(
        default="", description="Secret HMAC key; wired as dg.EnvVar('SPOTIFY_BULK_PSEUDONYM_KEY')."
    )
    drop_region: bool = Field(
        default=False, description="Land region_code as null in streams, sub-30 streams and users."
    )
    raw_rejects: bool = Field(
        default=False, description="Quote rejected lines as sent when not pseudonymizing (opt-in)."
    )
    field_map: str = Field(default="", description="A TOML/JSON file mapping renamed API fields.")
    lookback_days: int = Field(default=DEFAULT_LOOKBACK_DAYS, description="The schedules' look-back.")
    duckdb_memory_limit: str = Field(default="", description="DuckDB memory_limit of warehouse steps.")
    duckdb_threads: int = Field(default=0, description="DuckDB threads of warehouse steps (0: default).")
    reconcile_tolerance: float = Field(
        default=0.0, description="Share an aggregated count may differ from its stream rows (0: exact)."
    )
    reader_grace_seconds: float = Field(
        default=DEFAULT_READER_GRACE_SECONDS,
        description="How long readers of an earlier warehouse.duckdb keep its files (seconds).",
    )
    lake_url: str = Field(
        default="", description="An Iceberg lake (s3://bucket/prefix); empty: the local Hive lake only."
    )
    catalog_uri: str = Field(
        default="", description="SQLAlchemy URL of the Iceberg SQL catalog (no password: use ~/.pgpass)."
    )
    archive_url: str = Field(
        default="", description="Also keep the originals as write-once objects here (s3://bucket/prefix)."
    )
    risk_thresholds: dict[str, float] = Field(
        default_factory=dict,
        description="Artificial-streaming thresholds (SPOTIFY_BULK_RISK_*; docs/risk.md).",
    )

    def mirror_archive(self, archive: ArchivedPartition) -> str | None:
        """Copy a published archive partition to the object store (if configured); its manifest URL."""
        if not self.archive_url:
            return None
        return mirror_partition(archive, self.archive_url, object_store_from_environment())[1]

    def table_settings(self) -> Settings | None:
        """Settings of the table-format lake, the store's credentials read where the step runs."""
        if not self.lake_url:
            return None
        return Settings(
            data_dir=Path(self.data_dir),
            lake_url=self.lake_url,
            catalog_uri=self.catalog_uri,
            object_store=object_store_from_environment(),
        )

    @property
    def layout(self) -> Layout:
        return Layout(Path(self.data_dir).resolve())

    def landing_options(self) -> LandingOptions:
        """Landing settings of this lake (the key is checked when a load starts, not here)."""
        privacy = Privacy(
            self.pseudonymize, self.pseudonym_key.encode("utf-8"), self.drop_region, self.raw_rejects
        )
        tables = self.table_settings()
        return LandingOptions(
            privacy=privacy,
            field_map=Path(self.field_map) if self.field_map else None,
            table_lake=open_table_lake(tables) if tables else None,
            reader_grace_seconds=self.reader_grace_seconds,
        )

    def warehouse_options(self) -> WarehouseOptions:
        from pipeline.warehouse.options import WarehouseOptions

        return WarehouseOptions(
            lookback_days=self.lookback_days,
            memory_limit=self.duckdb_memory_limit,
            threads=self.duckdb_threads,
            reconcile_tolerance=self.reconcile_tolerance,
            risk=risk_settings_of(self.risk_thresholds),
            reader_grace_seconds=self.reader_grace_seconds,
        )


def lake_resource(settings: Settings) -> LakeResource:
    privacy = settings.privacy
    key: object = privacy.key
    if settings.secrets_from_env and privacy.key:
        key = dg.EnvVar(PSEUDONYM_KEY_ENV)  # only when set: unset, the load fails with our message
    return LakeResource(
        data_dir=str(settings.lake_dir),
        max_reject_share=settings.max_reject_share,
        pseudonymize=privacy.pseudonymize,
        pseudonym_key=key,  # type: ignore[arg-type]
        drop_region=privacy.drop_region,
        raw_rejects=privacy.raw_rejects,
        field_map=str(settings.field_map.resolve()) if settings.field_map else "",
        lookback_days=settings.lookback_days,
        duckdb_memory_limit=settings.duckdb_memory_limit,
        duckdb_threads=settings.duckdb_threads,
        reconcile_tolerance=settings.reconcile_tolerance,
        reader_grace_seconds=settings.reader_grace_seconds,
        lake_url=settings.lake_url,
        archive_url=settings.archive_url,
        catalog_uri=settings.iceberg_catalog_uri if settings.table_lake else "",
        risk_thresholds=asdict(settings.risk),
    )


def build_resources(settings: Settings) -> dict[str, dg.ConfigurableResource]:
    """The resources of one definitions object, from settings read once at start-up."""
    secrets_from_env = settings.secrets_from_env
    return {
        "bulk_api": BulkApiResource(**_api_fields(settings.bulk, secrets_from_env=secrets_from_env)),  # type: ignore[arg-type]
        "web_api": WebApiResource(
            **_api_fields(settings.web, secrets_from_env=secrets_from_env),  # type: ignore[arg-type]
            rate_limit=settings.web_api_rate_limit,
            mode=settings.web_api_mode,
        ),
        "lake": lake_resource(settings),
    }
