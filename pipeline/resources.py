"""Dagster resources: thin, typed faces over the plain clients in `pipeline/`."""

from __future__ import annotations

import os
from pathlib import Path

import dagster as dg
from pydantic import Field

from pipeline.bulk_api import BulkApiClient
from pipeline.layout import Layout
from pipeline.settings import DEFAULT_ACCOUNTS_URL, DEFAULT_BULK_API_URL, DEFAULT_DATA_DIR


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


class LakeResource(dg.ConfigurableResource):
    """Where the archive, lake and warehouse live, and how strict landing is."""

    data_dir: str = DEFAULT_DATA_DIR
    max_reject_share: float = Field(
        default=0.01, description="Fail a load when rejected lines exceed this share of all lines."
    )

    @property
    def layout(self) -> Layout:
        return Layout(Path(self.data_dir).resolve())


def default_resources() -> dict[str, dg.ConfigurableResource]:
    """Resources wired from the environment; secrets stay `EnvVar`s, resolved only at run time."""
    env = os.environ
    return {
        "bulk_api": BulkApiResource(
            client_id=dg.EnvVar("SPOTIFY_CLIENT_ID"),
            client_secret=dg.EnvVar("SPOTIFY_CLIENT_SECRET"),
            bulk_api_url=env.get("SPOTIFY_BULK_API_URL") or DEFAULT_BULK_API_URL,
            accounts_url=env.get("SPOTIFY_ACCOUNTS_URL") or DEFAULT_ACCOUNTS_URL,
        ),
        "lake": LakeResource(
            data_dir=env.get("SPOTIFY_BULK_DATA_DIR") or DEFAULT_DATA_DIR,
            max_reject_share=float(env.get("SPOTIFY_BULK_MAX_REJECT_SHARE") or 0.01),
        ),
    }
