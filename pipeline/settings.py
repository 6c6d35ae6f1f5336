"""Settings from environment variables (and `.env`), read once at the edges, never at import."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from pipeline.layout import safe_name

DEFAULT_BULK_API_URL = "https://provider-api.spotify.com/v1/analytics"
DEFAULT_ACCOUNTS_URL = "https://accounts.spotify.com/api/token"
DEFAULT_WEB_API_URL = "https://api.spotify.com/v1"
DEFAULT_DATA_DIR = "./data"
DEMO_LICENSORS = ("acme", "globex")


def parse_licensors(raw: str | None) -> tuple[str, ...]:
    """Split a comma-separated licensor list, validating each name as a path segment."""
    names = [part.strip() for part in (raw or "").split(",") if part.strip()]
    return tuple(dict.fromkeys(safe_name(n, what="licensor") for n in names))


@dataclass(frozen=True)
class Settings:
    """What the environment configures. Secrets are held but never shown in `repr`."""

    client_id: str = field(default="", repr=False)
    client_secret: str = field(default="", repr=False)
    licensors: tuple[str, ...] = ()
    bulk_api_url: str = DEFAULT_BULK_API_URL
    accounts_url: str = DEFAULT_ACCOUNTS_URL
    web_api_url: str = DEFAULT_WEB_API_URL
    data_dir: Path = Path(DEFAULT_DATA_DIR)

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None) -> Settings:
        env = os.environ if environ is None else environ
        return cls(
            client_id=env.get("SPOTIFY_CLIENT_ID", ""),
            client_secret=env.get("SPOTIFY_CLIENT_SECRET", ""),
            licensors=parse_licensors(env.get("SPOTIFY_LICENSORS")),
            bulk_api_url=env.get("SPOTIFY_BULK_API_URL") or DEFAULT_BULK_API_URL,
            accounts_url=env.get("SPOTIFY_ACCOUNTS_URL") or DEFAULT_ACCOUNTS_URL,
            web_api_url=env.get("SPOTIFY_WEB_API_URL") or DEFAULT_WEB_API_URL,
            data_dir=Path(env.get("SPOTIFY_BULK_DATA_DIR") or DEFAULT_DATA_DIR),
        )
