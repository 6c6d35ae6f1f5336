"""Clients of the Spotify APIs: one retrying HTTP layer, the token session, the Bulk API and the Web API."""

from pipeline.clients.rate_budget import RateBudget
from pipeline.clients.web_api import BATCH_ENDPOINTS, Forbidden, InvalidAnswer, WebApiClient, is_spotify_id
from pipeline.clients.web_records import (
    AlbumRecord,
    ArtistRecord,
    AudioFeaturesRecord,
    BatchResult,
    PlaylistRecord,
    TrackRecord,
)

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
