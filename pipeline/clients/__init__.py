"""Clients of the Spotify APIs: one retrying HTTP layer, the token session, the Bulk API and the Web API.

The names below resolve on first use (PEP 562), so importing a light module of the package
(`pipeline.clients.connection`, which `pipeline.config` needs) does not import httpx.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pipeline.clients.rate_budget import RateBudget
    from pipeline.clients.web_api import (
        BATCH_ENDPOINTS,
        Forbidden,
        InvalidAnswer,
        WebApiClient,
        is_spotify_id,
    )
    from pipeline.clients.web_records import (
        AlbumRecord,
        ArtistRecord,
        AudioFeaturesRecord,
        BatchResult,
        PlaylistRecord,
        TrackRecord,
    )

_HOMES = {
    "RateBudget": "rate_budget",
    **dict.fromkeys(
        ("BATCH_ENDPOINTS", "Forbidden", "InvalidAnswer", "WebApiClient", "is_spotify_id"), "web_api"
    ),
    **dict.fromkeys(
        (
            "AlbumRecord",
            "ArtistRecord",
            "AudioFeaturesRecord",
            "BatchResult",
            "PlaylistRecord",
            "TrackRecord",
        ),
        "web_records",
    ),
}

__all__ = [
    "BATCH_ENDPOINTS",
    "AlbumRecord",
    "ArtistRecord",
    "AudioFeaturesRecord",
    "BatchResult",
    "Forbidden",
    "InvalidAnswer",
    "PlaylistRecord",
    "RateBudget",
    "TrackRecord",
    "WebApiClient",
    "is_spotify_id",
]


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{home}"), name)
