"""Settings from environment variables (and `.env`), read once at the edges, never at import."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from pipeline.layout import safe_name

DEFAULT_BULK_API_URL = "https://provider-api.spotify.com/v1/analytics"
DEFAULT_ACCOUNTS_URL = "https://accounts.spotify.com/api/token"
DEFAULT_WEB_API_URL = "https://api.spotify.com/v1"
DEFAULT_DATA_DIR = "./data"
DEMO_LICENSORS = ("acme", "globex")


PSEUDONYMIZE_ENV = "SPOTIFY_BULK_PSEUDONYMIZE"
PSEUDONYM_KEY_ENV = "SPOTIFY_BULK_PSEUDONYM_KEY"
DROP_REGION_ENV = "SPOTIFY_BULK_DROP_REGION"
# The demo's listeners are synthetic, so its key is public; real installs set their own secret.
DEMO_PSEUDONYM_KEY = "spotify-bulk-etl-demo-key-not-a-secret"
_TRUE, _FALSE = ("1", "true", "yes", "on"), ("0", "false", "no", "off")


def env_flag(env: Mapping[str, str], name: str, *, default: bool) -> bool:
    """A boolean setting (1/true/yes/on or 0/false/no/off); a typo is an error, not a silent default."""
    raw = (env.get(name) or "").strip().lower()
    if not raw:
        return default
    if raw in _TRUE or raw in _FALSE:
        return raw in _TRUE
    raise ValueError(f"{name}={env.get(name)!r} is not understood: use 1/true/on or 0/false/off")


def privacy_flags(env: Mapping[str, str] | None = None) -> tuple[bool, bool]:
    """(pseudonymize user ids, drop region codes): pseudonymizing is on unless switched off."""
    env = os.environ if env is None else env
    return env_flag(env, PSEUDONYMIZE_ENV, default=True), env_flag(env, DROP_REGION_ENV, default=False)


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
