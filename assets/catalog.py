"""Catalog assets: the Web API's view of the tracks, albums, artists and playlists the lake mentions.

Each asset is one incremental enrichment pass (`pipeline.enrichment`): only ids never fetched or
older than the TTL are asked. Audio features are optional: when the Web API refuses them (403, as
for apps created since late 2024) the asset stays green and reports `available: False`.
"""

import asyncio
from collections.abc import Iterator
from datetime import timedelta

import dagster as dg
from pydantic import Field

from assets.metadata import column_schema, markdown_preview
from pipeline.clients.http import ApiError
from pipeline.enrichment import KINDS, EnrichmentFailed, EnrichResult, enrich
from pipeline.orchestration.resources import LakeResource, WebApiResource

GROUP = "catalog"
API_POOL = "spotify_api"
# A failed pass keeps what it fetched, so a step retry asks only for the rest.
RETRY_POLICY = dg.RetryPolicy(
    max_retries=2, delay=10, backoff=dg.Backoff.EXPONENTIAL, jitter=dg.Jitter.PLUS_MINUS
)
# The lake assets (and catalog assets) each kind reads its ids from.
_DEPS = {
    "tracks": ["streams", "sub30_streams", "tracks"],
    "albums": ["tracks", "catalog_tracks"],
    "artists": ["aggregated_summary", "catalog_tracks", "catalog_albums"],
    "playlists": ["streams", "sub30_streams"],
    "audio_features": ["streams", "sub30_streams", "tracks"],
}


class CatalogConfig(dg.Config):
    """Per-run knobs of an enrichment pass."""

    ttl_days: float = Field(
        default=7.0, description="Refetch ids (found or not) last fetched longer ago than this many days."
    )
    max_ids: int = Field(default=0, description="Most ids asked in this run (0: no cap); the rest wait.")


def _metadata(result: EnrichResult, config: CatalogConfig) -> dict[str, object]:
    table = KINDS[result.kind].table
    exists = result.path.is_file()
    return {
        "dagster/row_count": result.rows,
        "dagster/column_schema": column_schema(table.schema),
        "path": dg.MetadataValue.path(str(result.path)),
        "bytes": dg.MetadataValue.int(result.path.stat().st_size if exists else 0),
        "preview": dg.MetadataValue.md(markdown_preview(result.path) if exists else "_no rows yet_"),
        "available": result.available,
        "requests": result.requests,
        "lookup": result.lookup,
        "ids_wanted": result.wanted,
        "ids_requested": result.requested,
        "found": result.found,
        "not_found": result.not_found,
        "invalid_ids": result.invalid,
        "malformed_lake_ids": result.malformed_ids,
        "malformed_lake_id_sample": dg.MetadataValue.json(list(result.malformed_sample)),
        "failed": result.failed,
        "nulled_values": result.nulled_values,
        "nulled_value_sample": dg.MetadataValue.json(list(result.nulled_sample)),
        "history_rows_today": result.history_rows,
        "ttl_days": config.ttl_days,
        "seconds": round(result.seconds, 3),
    }


async def _enrich(
    kind: str, web_api: WebApiResource, lake: LakeResource, config: CatalogConfig
) -> EnrichResult:
    async with web_api.client() as client:
        return await enrich(
            kind,
            client,
            lake.layout,
            ttl=timedelta(days=config.ttl_days),
            max_ids=config.max_ids or None,
        )


def _history_result(result: EnrichResult) -> dg.MaterializeResult | None:
    """The daily-history table's materialization, when this pass wrote today's partition."""
    daily = KINDS[result.kind].daily
    if daily is None or result.history_path is None:
        return None
    path = result.history_path
    return dg.MaterializeResult(
        asset_key=daily.name,
        metadata={
            "dagster/row_count": result.history_rows,
            "dagster/column_schema": column_schema(daily.schema),
            "path": dg.MetadataValue.path(str(path)),
            "bytes": dg.MetadataValue.int(path.stat().st_size),
            "snapshot_date": path.parent.name.split("=", 1)[1],
        },
    )


def build_catalog_asset(kind: str) -> dg.AssetsDefinition:
    """The assets of one kind of catalog object: its current table and, if kept, its daily history."""
    spec = KINDS[kind]
    optional = " Optional: a 403 marks it unavailable and the run stays green." if spec.optional else ""
    specs = [
        dg.AssetSpec(
            key=spec.table.name,
            description=f"{spec.table.description}{optional} Incremental: refetched after the TTL.",
            group_name=GROUP,
            deps=_DEPS[kind],
            kinds={"parquet"},
            metadata={"key": spec.table.key},
        )
    ]
    if spec.daily is not None:
        specs.append(
            dg.AssetSpec(
                key=spec.daily.name,
                description=f"{spec.daily.description} Partitioned by snapshot_date=.",
                group_name=GROUP,
                skippable=True,  # only materialized by a pass that fetched something
                kinds={"parquet"},
                metadata={"key": spec.daily.key},
            )
        )

    @dg.multi_asset(
        name=spec.table.name,
        specs=specs,
        pool=API_POOL,
        retry_policy=RETRY_POLICY,
        description=f"One incremental Web API enrichment pass for {kind.replace('_', ' ')}.",
    )
    def _pass(
        context: dg.AssetExecutionContext, config: CatalogConfig, web_api: WebApiResource, lake: LakeResource
    ) -> Iterator[dg.MaterializeResult]:
        try:
            result = asyncio.run(_enrich(kind, web_api, lake, config))
        except EnrichmentFailed as exc:
            raise dg.Failure(
                description=str(exc), metadata=_metadata(exc.result, config), allow_retries=not exc.permanent
            ) from None
        except ApiError as exc:  # refused before anything was fetched (credentials, 403)
            raise dg.Failure(description=f"catalog {kind}: {exc}", allow_retries=False) from None
        if result.malformed_ids:
            context.log.warning(
                f"{result.malformed_ids:,} distinct value(s) in the lake are not {kind} ids and were not "
                f"asked (e.g. {', '.join(result.malformed_sample)}): re-land those days to normalize them"
            )
        if result.nulled_values:
            context.log.warning(
                f"{result.nulled_values:,} Web API value(s) of the wrong type or out of range stored as "
                f"null: {'; '.join(result.nulled_sample)}"
            )
        if not result.available:
            context.log.warning(f"the Web API refused {kind} (403): marked unavailable, nothing fetched")
        yield dg.MaterializeResult(asset_key=spec.table.name, metadata=_metadata(result, config))
        history = _history_result(result)
        if history is not None:
            yield history

    return _pass


catalog_assets = [build_catalog_asset(kind) for kind in KINDS]

catalog_job = dg.define_asset_job(
    name="catalog_job",
    selection=dg.AssetSelection.groups(GROUP),
    description="Enriches the catalog from the Web API: only new ids and ids older than the TTL.",
)
