"""Spotify Web API client for catalog enrichment: batched, concurrent, rate-budgeted, retrying."""

from pipeline.webapi.budget import RateBudget
from pipeline.webapi.client import BATCH_ENDPOINTS, Forbidden, InvalidAnswer, WebApiClient, is_spotify_id
from pipeline.webapi.records import (
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
