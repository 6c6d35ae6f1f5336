"""Lake assets: one multi-asset per Bulk API report, one asset per lake table it lands in.

Each run pulls one licensor-day of one report into the archive and lands it as Parquet; the assets
only wire Dagster to `pipeline.ingest.load` and describe what was written.
"""

import asyncio
from collections.abc import Iterator
from datetime import date

import dagster as dg

from assets.checks import schema_matches, stream_length_range
from assets.metadata import partition_metadata
from pipeline.ingest.landing import LandingResult, TableResult
from pipeline.ingest.load import LoadFailed, LoadOutcome, load_report
from pipeline.orchestration.partitions import Partitions, partition_parts
from pipeline.orchestration.resources import BulkApiResource, LakeResource
from pipeline.reports import REPORTS, TABLES_BY_NAME, ReportSpec

GROUP = "bulk_api"
API_POOL = "spotify_api"


def _check_specs(report: ReportSpec) -> list[dg.AssetCheckSpec]:
    specs = []
    for table in report.tables:
        specs.append(
            dg.AssetCheckSpec(
                "schema_as_declared",
                asset=table.name,
                blocking=True,
                description="The Parquet schema equals the declared schema in pipeline/reports.py.",
            )
        )
        if table.length_rule is not None:
            rule = table.length_rule
            specs.append(
                dg.AssetCheckSpec(rule.check, asset=table.name, blocking=True, description=rule.description)
            )
    specs.append(
        dg.AssetCheckSpec(
            "reject_share",
            asset=report.tables[0].name,
            description="Rejected lines stay within the allowed share (warns on any reject).",
        )
    )
    return specs


def _check_results(
    report: ReportSpec, table: TableResult, landing: LandingResult, max_share: float
) -> list[dg.AssetCheckResult]:
    spec = TABLES_BY_NAME[table.table]
    passed, description = schema_matches(spec, table.path)
    results = [
        dg.AssetCheckResult(
            asset_key=spec.name,
            check_name="schema_as_declared",
            passed=passed,
            metadata={"detail": description},
        )
    ]
    rule = spec.length_rule
    if rule is not None:
        low, high = stream_length_range(table.path)
        ok = (
            low is None
            or high is None  # no rows
            or (
                (rule.at_least_ms is None or low >= rule.at_least_ms)
                and (rule.under_ms is None or high < rule.under_ms)
            )
        )
        results.append(
            dg.AssetCheckResult(
                asset_key=spec.name,
                check_name=rule.check,
                passed=bool(ok),
                metadata={"min_stream_length": low or 0, "max_stream_length": high or 0},
            )
        )
    if spec.name == report.tables[0].name:
        share = landing.rejected / landing.lines_total if landing.lines_total else 0.0
        results.append(
            dg.AssetCheckResult(
                asset_key=spec.name,
                check_name="reject_share",
                passed=landing.rejected == 0,
                severity=dg.AssetCheckSeverity.WARN,
                metadata={
                    "rejected": landing.rejected,
                    "lines": landing.lines_total,
                    "share": share,
                    "max_share": max_share,
                    "rejects_file": str(landing.rejects_path or ""),
                },
            )
        )
    return results


def retry_policy(step_retries: int) -> dg.RetryPolicy:
    """Transient failures (network trouble past the client's own retries) get whole-step retries;
    permanent ones (credentials, rejects, hostile input, quota bans) fail at once (allow_retries=False)."""
    return dg.RetryPolicy(
        max_retries=step_retries, delay=5, backoff=dg.Backoff.EXPONENTIAL, jitter=dg.Jitter.PLUS_MINUS
    )


def build_report_assets(
    report: ReportSpec, partitions: Partitions, *, step_retries: int
) -> dg.AssetsDefinition:
    """The multi-asset that loads `report` for one date x licensor partition."""
    specs = [
        dg.AssetSpec(
            key=table.name,
            description=table.description,
            group_name=GROUP,
            skippable=True,
            kinds={"parquet"},
            metadata={"report": report.name, "api_report": report.api_name},
        )
        for table in report.tables
    ]

    @dg.multi_asset(
        name=f"{report.name}_report",
        specs=specs,
        check_specs=_check_specs(report),
        partitions_def=partitions.reports,
        pool=API_POOL,
        retry_policy=retry_policy(step_retries),
        backfill_policy=dg.BackfillPolicy.multi_run(1),
        can_subset=True,  # makes every output optional: a day not published yet materializes nothing
        description=f"Pulls the Bulk API `{report.api_name}` report for one licensor-day and lands it.",
    )
    def _report(
        context: dg.AssetExecutionContext, bulk_api: BulkApiResource, lake: LakeResource
    ) -> Iterator[dg.MaterializeResult]:
        licensor, day = partition_parts(context.partition_key)
        try:
            outcome = asyncio.run(_load(report, licensor, day, bulk_api, lake, context.log))
        except LoadFailed as exc:
            if exc.permanent:
                raise dg.Failure(description=str(exc), allow_retries=False) from None
            raise
        if outcome.landing is None:
            context.log.warning(f"{outcome.not_available_reason}; nothing materialized")
            return
        landing = outcome.landing
        archive = outcome.archive
        if archive is not None and (mirrored := lake.mirror_archive(archive)):
            context.log.info(f"archived originals also at {mirrored}")
        selected = {key.to_user_string() for key in context.selected_asset_keys}
        selected_checks = context.selected_asset_check_keys
        for table in landing.tables:
            if table.table not in selected:
                continue  # landed with its report (one download), but not asked for in this run
            checks = _check_results(report, table, landing, lake.max_reject_share)
            yield dg.MaterializeResult(
                asset_key=table.table,
                metadata=partition_metadata(
                    rows=table.rows,
                    path=table.path,
                    size=table.bytes,
                    schema=table.schema,
                    extra={
                        "source_files": len(archive.files) if archive else 0,
                        "archive_bytes": archive.total_bytes if archive else 0,
                        "rejected_lines": landing.rejected,
                        "unknown_fields": dg.MetadataValue.json(landing.unknown_fields),
                        "seconds": round(outcome.seconds, 3),
                    },
                ),
                check_results=[
                    c
                    for c in checks
                    if dg.AssetCheckKey(dg.AssetKey(table.table), c.check_name) in selected_checks
                ],
            )

    return _report


async def _load(
    report: ReportSpec,
    licensor: str,
    day: date,
    bulk_api: BulkApiResource,
    lake: LakeResource,
    log: dg.DagsterLogManager,
) -> LoadOutcome:
    async with bulk_api.client() as client:
        return await load_report(
            client,
            lake.layout,
            report,
            licensor,
            day,
            max_reject_share=lake.max_reject_share,
            progress=log.info,
            options=lake.landing_options(),
        )


def bulk_report_assets(partitions: Partitions, *, step_retries: int = 2) -> list[dg.AssetsDefinition]:
    """One multi-asset per Bulk API report, on the given partitions."""
    return [build_report_assets(report, partitions, step_retries=step_retries) for report in REPORTS]
