"""How to reach one Spotify API: the one connection-settings type of both clients and both resources."""

from __future__ import annotations

from dataclasses import dataclass, field, replace

DEFAULT_BULK_API_URL = "https://provider-api.spotify.com/v1/analytics"
DEFAULT_ACCOUNTS_URL = "https://accounts.spotify.com/api/token"
DEFAULT_WEB_API_URL = "https://api.spotify.com/v1"
# A `Retry-After` longer than this ends the step instead of sleeping through it (quota bans last hours).
DEFAULT_MAX_RETRY_AFTER_SECONDS = 600.0


@dataclass(frozen=True)
class Connection:
    """An API base URL, the token endpoint and the app's credentials (never shown in `repr`).

    `max_concurrency` bounds requests in flight; `max_retry_after` is the longest server-asked wait
    the client sleeps through before it gives up with the time to resume.
    """

    base_url: str
    accounts_url: str = DEFAULT_ACCOUNTS_URL
    client_id: str = field(default="", repr=False)
    client_secret: str = field(default="", repr=False)
    timeout: float = 60.0
    max_concurrency: int = 8
    max_retry_after: float = DEFAULT_MAX_RETRY_AFTER_SECONDS

    def __post_init__(self) -> None:
        if self.max_concurrency < 1:
            raise ValueError("max_concurrency must be at least 1")
        if self.timeout <= 0:
            raise ValueError("timeout must be positive")

    def with_options(self, **changes: object) -> Connection:
        """A copy with some fields changed (tests and the demo tune timeouts and concurrency)."""
        return replace(self, **changes)  # type: ignore[arg-type]
