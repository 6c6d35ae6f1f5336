"""The warehouse build as one Dagster step that still shows every SQL model as an asset.

One multi-asset holds an asset per model in `sql/` (generated from the model files, so adding a
`.sql` file adds an asset with its dependencies) and the published catalog. Its one step calls the
library's `build_warehouse` once (one DuckDB session, the build the bench measures), then reports
what it did: a materialization per model it built or checked, with that model's checks, and the
catalog when it was published, then the artificial-streaming monitor over what it published
(`assets/risk.py`: a check spec of this step, so the job is this one step). A blocking check that
fails stops the build before publishing (the library's rule); Dagster then fails the step too. A
check that passed only because rejects accepted at landing explain its differences is a
WARN-severity failure: shown, never blocking.

Date-partitioned models use daily `date` partitions and depend on the date x licensor lake assets
through the `date` dimension; a run over a date range (the schedule's, the CLI's) is one step.
Selecting a subset in the UI still runs the whole build (the models share one session and one
publish): only the selected assets are reported.
"""

from collections.abc import Iterator, Sequence
from datetime import date

import dagster as dg

from assets.beta import beta_apis
from assets.risk import risk_check_result, risk_check_spec
from pipeline.dates import DateWindow
from pipeline.enrichment.tables import CATALOG_TABLES
from pipeline.orchestration.partitions import Partitions
from pipeline.orchestration.resources import LakeResource
from pipeline.orchestration.warehouse_runs import CATALOG, FULL_REFRESH_TAG, check_metadata
from pipeline.warehouse import BuildResult, build_warehouse
from pipeline.warehouse.checks import LAKE_CHECKS, UNIQUE_KEY, CheckOutcome
from pipeline.warehouse.materialize import ModelBuild
from pipeline.warehouse.models import Model, discover_models

GROUP = "warehouse"
POOL = "duckdb_writer"
STEP = "warehouse_build"
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


def _spec(model: Model, partitions: Partitions) -> dg.AssetSpec:
    return dg.AssetSpec(
        model.name,
        group_name=GROUP,
        description=f"{model.description}\n\nGrain: {model.grain}. Key: {', '.join(model.key) or 'none'}.",
        deps=_deps(model),
        partitions_def=partitions.dates if model.partitioned else None,
        kinds={"duckdb", "parquet"} if model.materialized else {"duckdb", "sql"},
        metadata={"sql": str(model.path.name), "layer": model.layer, "grain": model.grain},
        skippable=True,  # not built when a blocking check stopped the build before it
    )


def _catalog_spec(partitions: Partitions) -> dg.AssetSpec:
    return dg.AssetSpec(
        CATALOG,
        group_name=GROUP,
        description="warehouse.duckdb: views over the build's pinned data, swapped in atomically so "
        "readers never block or see a half-built state.",
        deps=[m.name for m in MODELS],
        partitions_def=partitions.dates,
        kinds={"duckdb"},
        skippable=True,  # not published when a blocking check failed
    )


def _check_evaluation(outcome: CheckOutcome) -> dg.AssetCheckEvaluation:
    """A warehouse check as Dagster sees it: differences explained by accepted rejects are a
    WARN-severity failure (shown in the UI, never blocking), with the numbers."""
    return dg.AssetCheckEvaluation(
        asset_key=dg.AssetKey(outcome.model),
        check_name=outcome.name,
        passed=outcome.passed and not outcome.warning,
        severity=dg.AssetCheckSeverity.WARN if outcome.warning else dg.AssetCheckSeverity.ERROR,
        metadata=check_metadata(outcome),
        blocking=True,
    )


def _model_metadata(build: ModelBuild | None) -> dict[str, object]:
    if build is None:  # a staging view: defined in the catalog, checked, not written
        return {}
    return {
        "dagster/row_count": build.rows,
        "partitions_written": build.partitions_written,
        "partitions_removed": build.partitions_removed,
        "seconds": round(build.seconds, 3),
        "path": dg.MetadataValue.path(str(build.path)),
    }


Event = dg.AssetMaterialization | dg.AssetCheckEvaluation


def _materializations(
    name: str, metadata: dict[str, object], partitioned: bool, partition_keys: Sequence[str]
) -> Iterator[dg.AssetMaterialization]:
    for key in partition_keys if partitioned else [None]:
        yield dg.AssetMaterialization(asset_key=name, partition=key, metadata=metadata)  # type: ignore[arg-type]


def report(result: BuildResult, selected: set[dg.AssetKey], partition_keys: Sequence[str]) -> Iterator[Event]:
    """A materialization per model the build wrote or checked (in dependency order), then the
    catalog if it was published; each model's checks after it. A staging view counts once its lake
    checks ran; a mart once built. Events, not outputs: an output would add a step-output event per
    asset and check to the run's log, the cost of a run on SQLite storage."""
    builds = {b.model: b for b in result.models}
    checks: dict[str, list[CheckOutcome]] = {}
    for outcome in result.checks:
        checks.setdefault(outcome.model, []).append(outcome)
    lake_checked = result.window is not None and bool(result.checks)
    for model in MODELS:
        done = model.name in builds if model.materialized else lake_checked
        if not done or dg.AssetKey(model.name) not in selected:
            continue
        metadata = _model_metadata(builds.get(model.name))
        yield from _materializations(model.name, metadata, model.partitioned, partition_keys)
        yield from (_check_evaluation(c) for c in checks.get(model.name, []))
    if result.catalog is not None and dg.AssetKey(CATALOG) in selected:
        catalog: dict[str, object] = {
            "path": dg.MetadataValue.path(str(result.catalog)),
            # Time travel: the build is reproducible from the table snapshots it read and wrote.
            "snapshot_ids": dg.MetadataValue.json(result.snapshot_ids),
            "seconds": round(result.seconds, 3),
        }
        if result.rejects:
            catalog["rejects"] = result.rejects
        yield from _materializations(CATALOG, catalog, True, partition_keys)


def warehouse_assets(partitions: Partitions) -> list[dg.AssetsDefinition]:
    """The warehouse build: one step, an asset per SQL model plus the published catalog."""

    with beta_apis():  # backfill_policy
        decorate = dg.multi_asset(
            name=STEP,
            specs=[*(_spec(m, partitions) for m in MODELS), _catalog_spec(partitions)],
            check_specs=[*(spec for m in MODELS for spec in _check_specs(m)), risk_check_spec()],
            can_subset=True,  # required with partitioned and unpartitioned models in one step
            backfill_policy=dg.BackfillPolicy.single_run(),
            pool=POOL,
            description="Builds every mart for the run's dates in one DuckDB session, checks, publishes.",
        )

    @decorate
    def warehouse_build(
        context: dg.AssetExecutionContext, lake: LakeResource
    ) -> Iterator[dg.MaterializeResult]:
        full = _full_refresh(context)
        result = build_warehouse(
            lake.layout,
            None if full else _window(context),
            full_refresh=full,
            options=lake.warehouse_options(),
        )
        keys = context.partition_keys if context.has_partition_key_range or context.has_partition_key else []
        yield from report(result, set(context.selected_asset_keys), keys)
        published = result.catalog is not None and result.window is not None
        if published and risk_check_spec().key in context.selected_asset_check_keys:
            yield risk_check_result(lake.layout, result.window, lake.warehouse_options())

    return [warehouse_build]
