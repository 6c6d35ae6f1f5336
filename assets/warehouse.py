"""Warehouse assets: one per SQL model in `sql/`, plus the published catalog.

Generated from the model files, so adding a `.sql` file adds an asset with its dependencies.
Date-partitioned models use daily `date` partitions (all licensors in one DuckDB pass: the marts
are per licensor-date on disk anyway, and one pass per day keeps writes in the pool of 1 short);
they depend on the date x licensor lake assets through the `date` dimension.
"""

from datetime import date

import dagster as dg

from assets.beta import beta_apis
from pipeline.dates import DateWindow
from pipeline.enrichment.tables import CATALOG_TABLES
from pipeline.orchestration.partitions import Partitions
from pipeline.orchestration.resources import LakeResource
from pipeline.warehouse.checks import LAKE_CHECKS, PERSONAL_SAMPLES, UNIQUE_KEY, CheckOutcome
from pipeline.warehouse.models import Model, discover_models
from pipeline.warehouse.steps import StepResult, materialize_model, publish_warehouse, run_tag

GROUP = "warehouse"
POOL = "duckdb_writer"
CATALOG = "warehouse_catalog"
# A run tagged so rebuilds every mart over every date (`spotify-bulk build --full-refresh`, or a
# launch from the UI with this tag): derived state is dropped first, as `build_warehouse` does.
FULL_REFRESH_TAG = "spotify/full_refresh"
MODELS = discover_models()
_BY_NAME = {m.name: m for m in MODELS}
with beta_apis():
    _LAKE_MAPPING = dg.MultiToSingleDimensionPartitionMapping(partition_dimension_name="date")


def _window(context: dg.AssetExecutionContext) -> DateWindow | None:
    if not context.has_partition_key_range and not context.has_partition_key:
        return None
    keys = context.partition_key_range
    return DateWindow(date.fromisoformat(keys.start), date.fromisoformat(keys.end))


def _full_refresh(context: dg.AssetExecutionContext) -> bool:
    return context.run.tags.get(FULL_REFRESH_TAG, "").lower() == "true"


def _deps(model: Model) -> list[dg.AssetDep]:
    deps = [
        dg.AssetDep(table, partition_mapping=None if table in CATALOG_TABLES else _LAKE_MAPPING)
        for table in model.lake_tables  # catalog tables (Web API enrichment) are not partitioned
    ]
    for name in model.depends_on:
        mapping = None
        if model.rolling_days > 1 and model.partitioned and _BY_NAME[name].partitioned:
            with beta_apis():
                mapping = dg.TimeWindowPartitionMapping(
                    start_offset=-(model.rolling_days - 1), allow_nonexistent_upstream_partitions=True
                )
        deps.append(dg.AssetDep(name, partition_mapping=mapping))
    return deps


def _check_specs(model: Model) -> list[dg.AssetCheckSpec]:
    specs = [
        dg.AssetCheckSpec(name, asset=model.name, blocking=True, description=description)
        for name, (owner, description, _sql) in LAKE_CHECKS.items()
        if owner == model.name
    ]
    if model.materialized:
        specs.append(
            dg.AssetCheckSpec(
                UNIQUE_KEY,
                asset=model.name,
                blocking=True,
                description=f"No duplicate ({', '.join(model.key)}).",
            )
        )
    return specs


def _check_result(outcome: CheckOutcome) -> dg.AssetCheckResult:
    """A warehouse check as Dagster sees it: differences explained by landing rejects are a warning
    (a WARN-severity failure, which does not block), with the numbers."""
    sample = [list(map(str, r)) for r in outcome.sample]
    if outcome.name in PERSONAL_SAMPLES:  # the event storage outlives the lake: no user ids in it
        sample = [[*r[:-1], "(user id not shown)"] for r in sample]
    metadata: dict[str, object] = {"failures": outcome.failures, "sample": dg.MetadataValue.json(sample)}
    if outcome.explained or outcome.note:
        metadata.update(explained_by_rejects=outcome.explained, rejects=outcome.note)
    return dg.AssetCheckResult(
        check_name=outcome.name,
        passed=outcome.passed and not outcome.warning,
        severity=dg.AssetCheckSeverity.WARN if outcome.warning else dg.AssetCheckSeverity.ERROR,
        metadata=metadata,
    )


def _metadata(result: StepResult) -> dict[str, object]:
    schema = dg.TableSchema(columns=[dg.TableColumn(name=n, type=t) for n, t in result.columns])
    metadata: dict[str, object] = {"dagster/row_count": result.rows, "dagster/column_schema": schema}
    if result.build is not None:
        metadata.update(
            partitions_written=result.build.partitions_written,
            partitions_removed=result.build.partitions_removed,
            seconds=round(result.build.seconds, 3),
        )
    if result.path is not None:
        metadata["path"] = dg.MetadataValue.path(str(result.path))
    return metadata


def build_model_asset(model: Model, partitions: Partitions) -> dg.AssetsDefinition:
    """The asset of one SQL model: a staging view (counted and checked) or a mart (built)."""
    partitioned = model.partitioned

    with beta_apis():  # backfill_policy
        decorate = dg.asset(
            name=model.name,
            group_name=GROUP,
            description=f"{model.description}\n\nGrain: {model.grain}. "
            f"Key: {', '.join(model.key) or 'none'}.",
            deps=_deps(model),
            partitions_def=partitions.dates if partitioned else None,
            backfill_policy=dg.BackfillPolicy.single_run() if partitioned else None,
            check_specs=_check_specs(model),
            pool=POOL,
            kinds={"duckdb", "parquet"} if model.materialized else {"duckdb", "sql"},
            metadata={"sql": str(model.path.name), "layer": model.layer, "grain": model.grain},
        )

    @decorate
    def _model(context: dg.AssetExecutionContext, lake: LakeResource) -> dg.MaterializeResult:
        window = _window(context) if partitioned else None
        result = materialize_model(
            lake.synced_layout(context.run.run_id),
            model.name,
            window,
            tag=run_tag(context.run.run_id),
            options=lake.warehouse_options(),
            full_refresh=_full_refresh(context),
        )
        return dg.MaterializeResult(
            metadata=_metadata(result), check_results=[_check_result(c) for c in result.checks]
        )

    return _model


def build_catalog_asset(partitions: Partitions) -> dg.AssetsDefinition:
    """The published catalog: one asset that swaps the new warehouse.duckdb into place."""

    with beta_apis():  # backfill_policy
        decorate = dg.asset(
            name=CATALOG,
            group_name=GROUP,
            description="warehouse.duckdb: views over an immutable snapshot of the lake and marts, swapped "
            "in atomically so readers never block or see a half-built state.",
            deps=[m.name for m in MODELS],
            partitions_def=partitions.dates,
            backfill_policy=dg.BackfillPolicy.single_run(),
            pool=POOL,
            kinds={"duckdb"},
        )

    @decorate
    def warehouse_catalog(context: dg.AssetExecutionContext, lake: LakeResource) -> dg.MaterializeResult:
        snapshot = publish_warehouse(
            lake.synced_layout(context.run.run_id),
            _window(context),
            tag=run_tag(context.run.run_id),
            options=lake.warehouse_options(),
        )
        return dg.MaterializeResult(
            metadata={
                "path": dg.MetadataValue.path(str(lake.layout.warehouse_path)),
                "snapshot": snapshot.name,
            }
        )

    return warehouse_catalog


def warehouse_assets(partitions: Partitions) -> list[dg.AssetsDefinition]:
    """One asset per SQL model, then the published catalog."""
    return [*(build_model_asset(m, partitions) for m in MODELS), build_catalog_asset(partitions)]
