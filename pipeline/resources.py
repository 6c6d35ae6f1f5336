"""Dagster resources: thin, typed faces over the plain clients in `pipeline/`."""

from __future__ import annotations

import os
from pathlib import Path

import dagster as dg
from pydantic import Field

from pipeline.bulk_api import BulkApiClient
from pipeline.landing import LandingOptions
from pipeline.landing.privacy import Privacy
from pipeline.layout import Layout
from pipeline.settings import (
    DEFAULT_ACCOUNTS_URL,
    DEFAULT_BULK_API_URL,
    DEFAULT_DATA_DIR,
    DEFAULT_WEB_API_URL,
    PSEUDONYM_KEY_ENV,
    privacy_flags,
)
from pipeline.webapi import WebApiClient
from pipeline.webapi.client import DEFAULT_RATE_LIMIT


class BulkApiResource(dg.ConfigurableResource):
    """Spotify Bulk API access with client credentials (secrets come in as `dg.EnvVar`)."""

    client_id: str
    client_secret: str
    bulk_api_url: str = DEFAULT_BULK_API_URL
    accounts_url: str = DEFAULT_ACCOUNTS_URL
    max_concurrency: int = Field(default=8, description="Parallel file downloads per report.")
    timeout_seconds: float = Field(default=60.0, description="Connect/read timeout per request.")

    def client(self) -> BulkApiClient:
        return BulkApiClient(
            base_url=self.bulk_api_url,
            accounts_url=self.accounts_url,
            client_id=self.client_id,
            client_secret=self.client_secret,
            timeout=self.timeout_seconds,
            max_concurrency=self.max_concurrency,
        )


class WebApiResource(dg.ConfigurableResource):
    """Spotify Web API access for catalog enrichment, with a client-side rate budget."""

    client_id: str
    client_secret: str
    web_api_url: str = DEFAULT_WEB_API_URL
    accounts_url: str = DEFAULT_ACCOUNTS_URL
    max_concurrency: int = Field(default=4, description="Web API requests in flight at once.")
    rate_limit: int = Field(
        default=DEFAULT_RATE_LIMIT, description="Most requests sent in any rolling window (Spotify: 30 s)."
    )
    rate_window_seconds: float = Field(default=30.0, description="Length of the rolling rate window.")
    timeout_seconds: float = Field(default=30.0, description="Connect/read timeout per request.")

    def client(self) -> WebApiClient:
        return WebApiClient(
            base_url=self.web_api_url,
            accounts_url=self.accounts_url,
            client_id=self.client_id,
            client_secret=self.client_secret,
            timeout=self.timeout_seconds,
            max_concurrency=self.max_concurrency,
            rate_limit=self.rate_limit,
            rate_window=self.rate_window_seconds,
        )


class LakeResource(dg.ConfigurableResource):
    """Where the archive, lake and warehouse live, and how strict landing is."""

    data_dir: str = DEFAULT_DATA_DIR
    max_reject_share: float = Field(
        default=0.01, description="Fail a load when rejected lines exceed this share of all lines."
    )

    pseudonymize: bool = Field(
        default=False,
        description="Land user_id as an HMAC-SHA256 pseudonym (default_resources: on unless "
        "SPOTIFY_BULK_PSEUDONYMIZE=0).",
    )
    pseudonym_key: str = Field(
        default="", description="Secret HMAC key; wire it as dg.EnvVar('SPOTIFY_BULK_PSEUDONYM_KEY')."
    )
    drop_region: bool = Field(
        default=False, description="Land region_code as null in streams, sub-30 streams and users."
    )

    @property
    def layout(self) -> Layout:
        return Layout(Path(self.data_dir).resolve())

    def landing_options(self) -> LandingOptions:
        """Landing settings of this lake (the key is checked when a load starts, not here)."""
        privacy = Privacy(self.pseudonymize, self.pseudonym_key.encode("utf-8"), self.drop_region)
        return LandingOptions(privacy=privacy)


def default_resources() -> dict[str, dg.ConfigurableResource]:
    """Resources wired from the environment; secrets stay `EnvVar`s, resolved only at run time."""
    env = os.environ
    pseudonymize, drop_region = privacy_flags(env)
    return {
        "bulk_api": BulkApiResource(
            client_id=dg.EnvVar("SPOTIFY_CLIENT_ID"),
            client_secret=dg.EnvVar("SPOTIFY_CLIENT_SECRET"),
            bulk_api_url=env.get("SPOTIFY_BULK_API_URL") or DEFAULT_BULK_API_URL,
            accounts_url=env.get("SPOTIFY_ACCOUNTS_URL") or DEFAULT_ACCOUNTS_URL,
        ),
        "web_api": WebApiResource(
            client_id=dg.EnvVar("SPOTIFY_CLIENT_ID"),
            client_secret=dg.EnvVar("SPOTIFY_CLIENT_SECRET"),
            web_api_url=env.get("SPOTIFY_WEB_API_URL") or DEFAULT_WEB_API_URL,
            accounts_url=env.get("SPOTIFY_ACCOUNTS_URL") or DEFAULT_ACCOUNTS_URL,
            rate_limit=int(env.get("SPOTIFY_WEB_API_RATE_LIMIT") or DEFAULT_RATE_LIMIT),
        ),
        "lake": LakeResource(
            data_dir=env.get("SPOTIFY_BULK_DATA_DIR") or DEFAULT_DATA_DIR,
            max_reject_share=float(env.get("SPOTIFY_BULK_MAX_REJECT_SHARE") or 0.01),
            pseudonymize=pseudonymize,
            # Only an EnvVar when set: unset, the load fails with our message, not Dagster's.
            pseudonym_key=dg.EnvVar(PSEUDONYM_KEY_ENV) if env.get(PSEUDONYM_KEY_ENV) else "",
            drop_region=drop_region,
        ),
    }
