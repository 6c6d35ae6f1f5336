"""Run the warehouse job in this process for `spotify-bulk build`, so every CLI build is a UI run.

One run over a date range, given the way the daily schedule gives it (partition-range tags); "every
date in the lake" is the lake's first to last date, and a full refresh is that run tagged
`spotify/full_refresh`, which the warehouse step reads. The step calls the library's
`build_warehouse` once; what it did is read back from the run's events into the same `BuildResult`,
so the CLI prints what the library returned. The definitions come from the caller (the CLI): this
layer never imports the assets or the definitions above it.
"""

from __future__ import annotations

import time
import uuid
from datetime import date
from pathlib import Path

import dagster as dg

from pipeline.config import Settings
from pipeline.dates import DateWindow
from pipeline.errors import UsageError
from pipeline.layout import Layout
from pipeline.orchestration.instance import open_instance
from pipeline.orchestration.partitions import build_partitions, date_range_tags
from pipeline.orchestration.runs import console_logs, run_error
from pipeline.warehouse import BuildResult
from pipeline.warehouse.build import lake_span
from pipeline.warehouse.checks import PERSONAL_SAMPLES, CheckOutcome
from pipeline.warehouse.materialize import ModelBuild
from pipeline.warehouse.models import discover_models

JOB_NAME = "warehouse_job"
CATALOG = "warehouse_catalog"  # the asset of the published warehouse.duckdb
# A run tagged so rebuilds every mart over every date (`spotify-bulk build --full-refresh`, or a
# launch from the UI with this tag): derived state is dropped first, as `build_warehouse` does.
FULL_REFRESH_TAG = "spotify/full_refresh"


class BuildFailed(Exception):
    """The warehouse run failed for another reason than a blocking check (which the printout shows)."""


def check_metadata(outcome: CheckOutcome) -> dict[str, object]:
    """A check's numbers as Dagster metadata; what `_checks` reads back. Samples of checks whose
    rows end in a user id are masked: the event storage outlives the lake."""
    sample = [list(map(str, r)) for r in outcome.sample]
    if outcome.name in PERSONAL_SAMPLES:
        sample = [[*r[:-1], "(user id not shown)"] for r in sample]
    metadata: dict[str, object] = {"failures": outcome.failures, "sample": dg.MetadataValue.json(sample)}
    if outcome.explained or outcome.note:
        metadata.update(explained_by_rejects=outcome.explained, rejects=outcome.note)
    return metadata


def _value(metadata: dict[str, dg.MetadataValue], key: str) -> object:
    entry = metadata.get(key)
    return getattr(entry, "value", entry)


def _number(metadata: dict[str, dg.MetadataValue], key: str) -> float:
    value = _value(metadata, key)
    return float(value) if isinstance(value, int | float) else 0.0


def new_run_id() -> str:
    """A run id chosen before the run (as Dagster makes them), so work done ahead of it (syncing a
    table-format lake's cache) can be recorded as that run's."""
    return str(uuid.uuid4())


def build_window(settings: Settings, window: DateWindow | None) -> DateWindow:
    """The run's dates: `window`, or every date in the lake; within the date partitions."""
    span = window or lake_span(Layout(settings.lake_dir))
    if span is None:
        raise UsageError("the lake is empty, nothing to build: load some days first (`spotify-bulk load`)")
    first = settings.start_date
    dates = build_partitions(settings.licensors, first).dates
    last = date.fromisoformat(dates.get_last_partition_key() or first.isoformat())
    if span.start < first or span.end > last:
        raise UsageError(
            f"cannot build {span}: the date partitions run from SPOTIFY_BULK_START_DATE ({first}) to "
            f"{last} (yesterday); set SPOTIFY_BULK_START_DATE earlier or choose dates in that range"
        )
    return span


def _models(result: dg.ExecuteInProcessResult) -> tuple[ModelBuild, ...]:
    """The marts the run built, in the models' order (staging views have no `partitions_written`).

    A mart over a date range is reported once per date, with the same (whole-build) numbers.
    """
    builds: dict[str, ModelBuild] = {}
    for event in result.get_asset_materialization_events():
        metadata = event.materialization.metadata
        name = event.asset_key.to_user_string()
        if "partitions_written" not in metadata or name in builds:
            continue
        builds[name] = ModelBuild(
            model=name,
            window=None,
            rows=int(_number(metadata, "dagster/row_count")),
            partitions_written=int(_number(metadata, "partitions_written")),
            partitions_removed=int(_number(metadata, "partitions_removed")),
            seconds=_number(metadata, "seconds"),
            path=Path(str(_value(metadata, "path"))),
        )
    return tuple(builds[m.name] for m in discover_models() if m.name in builds)


def _checks(result: dg.ExecuteInProcessResult, defs: dg.Definitions) -> tuple[CheckOutcome, ...]:
    """Each blocking check's outcome as the library gave it: a WARN-severity failure is a passed
    check whose differences accepted rejects explain (a warning), not a failed one. Monitors (the
    artificial-streaming warning) are the job's own, not the build's."""
    descriptions = {
        (spec.asset_key.to_user_string(), spec.name): spec.description or ""
        for asset in defs.assets or ()
        if isinstance(asset, dg.AssetsDefinition)
        for spec in asset.check_specs
    }
    outcomes: dict[tuple[str, str], CheckOutcome] = {}
    for evaluation in result.get_asset_check_evaluations():
        if evaluation.blocking is False:
            continue
        model = evaluation.asset_key.to_user_string()
        sample = _value(evaluation.metadata, "sample")
        outcomes[(model, evaluation.check_name)] = CheckOutcome(
            name=evaluation.check_name,
            model=model,
            passed=evaluation.passed or evaluation.severity == dg.AssetCheckSeverity.WARN,
            failures=int(_number(evaluation.metadata, "failures")),
            description=descriptions.get((model, evaluation.check_name), ""),
            sample=tuple(tuple(row) for row in sample) if isinstance(sample, list) else (),
            explained=int(_number(evaluation.metadata, "explained_by_rejects")),
            note=str(_value(evaluation.metadata, "rejects") or ""),
        )
    return tuple(outcomes.values())


def _published(result: dg.ExecuteInProcessResult) -> dict[str, dg.MetadataValue] | None:
    """The metadata of the published catalog, if the run published it."""
    for event in result.get_asset_materialization_events():
        if event.asset_key.to_user_string() == CATALOG:
            return dict(event.materialization.metadata)
    return None


def run_build(
    settings: Settings,
    defs: dg.Definitions,
    window: DateWindow | None = None,
    *,
    full_refresh: bool = False,
    log_level: str = "CRITICAL",
    run_id: str | None = None,
) -> BuildResult:
    """Run `warehouse_job` of `defs` over `window` (default, and for a full refresh: every lake date).

    A blocking check that fails is a result (not published, `passed` False); any other failure of
    the run raises `BuildFailed` with its reason and run id.
    """
    span = build_window(settings, window)
    tags = {"spotify/launched_by": "cli", **date_range_tags(span.start, span.end)}
    if full_refresh:
        tags[FULL_REFRESH_TAG] = "true"
    started = time.monotonic()
    result = defs.resolve_job_def(JOB_NAME).execute_in_process(
        instance=open_instance(settings),
        tags=tags,
        run_config=console_logs(log_level),
        raise_on_error=False,
        run_id=run_id,
    )
    catalog = _published(result)
    checks = _checks(result, defs)
    # The window's rejects note: on the published catalog, else on the checks it concerned.
    rejects = str(_value(catalog, "rejects") or "") if catalog else ""
    built = BuildResult(
        window=span,
        models=_models(result),
        checks=checks,
        catalog=Path(str(_value(catalog, "path"))) if catalog else None,
        snapshot=None,
        snapshot_ids={str(k): int(v) for k, v in dict(_value(catalog, "snapshot_ids") or {}).items()}
        if catalog
        else {},
        seconds=time.monotonic() - started,
        rejects=rejects or next((c.note for c in checks if c.note), ""),
    )
    if not result.success and built.passed:
        raise BuildFailed(f"warehouse run {result.run_id} failed: {run_error(result)}")
    return built
