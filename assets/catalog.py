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

from assets.metadata import PREVIEW_ROWS, column_schema, markdown_rows
from pipeline.clients.http import ApiError
from pipeline.config import tables_for
from pipeline.enrichment import KINDS, CatalogTable, EnrichmentFailed, EnrichResult, enrich
from pipeline.orchestration.resources import LakeResource, WebApiResource
from pipeline.storage.tables import TableLake

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


def _table_metadata(lake: TableLake, table: CatalogTable) -> dict[str, object]:
    """The Iceberg table, its current snapshot, size and first rows (from the manifests and a
    limited scan: the table is never read whole for this)."""
    iceberg = lake.load(table.name)
    snapshot = iceberg.current_snapshot() if iceberg is not None else None
    found: dict[str, object] = {"table": f"{lake.namespace}.{table.name}"}
    if iceberg is None or snapshot is None:
        return found | {"bytes": dg.MetadataValue.int(0), "preview": dg.MetadataValue.md("_no rows yet_")}
    size = sum(task.file.file_size_in_bytes for task in iceberg.scan().plan_files())
    first = iceberg.scan(limit=PREVIEW_ROWS).to_arrow()
    return found | {
        "snapshot_id": str(snapshot.snapshot_id),
        "bytes": dg.MetadataValue.int(size),
        "preview": dg.MetadataValue.md(markdown_rows(first) if first.num_rows else "_no rows yet_"),
    }


def _metadata(result: EnrichResult, config: CatalogConfig, lake: TableLake) -> dict[str, object]:
    table = KINDS[result.kind].table
    return {
        "dagster/row_count": result.rows,
        "dagster/column_schema": column_schema(table.schema),
        **_table_metadata(lake, table),
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
    kind: str, web_api: WebApiResource, lake: LakeResource, config: CatalogConfig, tables: TableLake
) -> EnrichResult:
    async with web_api.client() as client:
        return await enrich(
            kind,
            client,
            lake.layout,
            ttl=timedelta(days=config.ttl_days),
            max_ids=config.max_ids or None,
            tables=tables,
        )


def _history_result(result: EnrichResult, lake: TableLake) -> dg.MaterializeResult | None:
    """The daily-history table's materialization, when this pass wrote today's partition."""
    daily = KINDS[result.kind].daily
    if daily is None or result.history_day is None:
        return None
    return dg.MaterializeResult(
        asset_key=daily.name,
        metadata={
            "dagster/row_count": result.history_rows,  # in the day's partition
            "dagster/column_schema": column_schema(daily.stored_schema),
            **_table_metadata(lake, daily),
            "snapshot_date": result.history_day.isoformat(),
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
                description=f"{spec.daily.description} Partitioned by snapshot_date.",
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
        tables = tables_for(lake.layout.data_dir)
        try:
            result = asyncio.run(_enrich(kind, web_api, lake, config, tables))
        except EnrichmentFailed as exc:
            raise dg.Failure(
                description=str(exc),
                metadata=_metadata(exc.result, config, tables),
                allow_retries=not exc.permanent,
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
        yield dg.MaterializeResult(asset_key=spec.table.name, metadata=_metadata(result, config, tables))
        history = _history_result(result, tables)
        if history is not None:
            yield history

    return _pass


catalog_assets = [build_catalog_asset(kind) for kind in KINDS]

catalog_job = dg.define_asset_job(
    name="catalog_job",
    selection=dg.AssetSelection.groups(GROUP),
    description="Enriches the catalog from the Web API: only new ids and ids older than the TTL.",
)
