"""Catalog enrichment from the Spotify Web API: incremental, rate-limit safe, with daily history."""

from pipeline.enrichment.run import (
    DEFAULT_TTL,
    KINDS,
    ORDER,
    EnrichmentFailed,
    EnrichResult,
    enrich,
    enrich_all,
)
from pipeline.enrichment.tables import CATALOG_TABLES, STATE_TABLE, CatalogTable

__all__ = [
    "CATALOG_TABLES",
    "DEFAULT_TTL",
    "KINDS",
    "ORDER",
    "STATE_TABLE",
    "CatalogTable",
    "EnrichResult",
    "EnrichmentFailed",
    "enrich",
    "enrich_all",
]
