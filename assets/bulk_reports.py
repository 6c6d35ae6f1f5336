"""Lake assets: one multi-asset per Bulk API report, one asset per lake table it lands in.

Each run pulls one licensor-day of one report into the archive and lands it as Parquet; the assets
only wire Dagster to `pipeline.ingest.load` and describe what was written.
"""

import asyncio
from collections.abc import Iterator
from datetime import date

import dagster as dg

from assets.beta import beta_apis
from assets.checks import blocking_description, monitor_result, monitor_spec
from assets.metadata import partition_metadata
from pipeline.clients.http import format_resume
from pipeline.ingest.landing import LandingResult, TableResult
from pipeline.ingest.landing.gate import SCHEMA_CHECK, UNIT_CHECK, BlockedByChecksError, GateOutcome
from pipeline.ingest.load import LoadFailed, LoadOutcome, load_report
from pipeline.orchestration.partitions import Partitions, partition_parts
from pipeline.orchestration.resources import BulkApiResource, LakeResource
from pipeline.orchestration.runs import RESUME_AFTER
from pipeline.reports import REPORTS, TABLES_BY_NAME, ReportSpec, TableSpec

GROUP = "bulk_api"
API_POOL = "spotify_api"
GATE_CHECKED = "on the staged file, before publishing (landing gate)"


def _blocking_checks(table: TableSpec) -> list[tuple[str, str]]:
    """(name, description) of the landing gate's checks on one table, as Dagster asset checks.

    Only day-level rules: values out of bounds and missing required fields are rejected lines,
    reported by `reject_share`. The checks read Parquet statistics, never whole columns.
    """
    checks = [(SCHEMA_CHECK, "The Parquet schema equals the declared schema in pipeline/reports.py.")]
    if table.seconds_check:
        checks.append(
            (
                UNIT_CHECK,
                "Stream lengths are milliseconds, not seconds (not every one of 30+ plays under 30).",
            )
        )
    return checks


def _check_specs(report: ReportSpec) -> list[dg.AssetCheckSpec]:
    specs = [
        dg.AssetCheckSpec(
            name, asset=table.name, blocking=True, description=blocking_description(description)
        )
        for table in report.tables
        for name, description in _blocking_checks(table)
    ]
    specs.append(
        monitor_spec(
            "reject_share",
            report.tables[0].name,
            "Rejected lines stay within the allowed share (warns on any reject; the share itself is "
            "enforced by landing, which refuses a day over SPOTIFY_BULK_MAX_REJECT_SHARE).",
        )
    )
    return specs


def _gate_result(outcome: GateOutcome) -> dg.AssetCheckEvaluation:
    """A landing gate outcome as a Dagster check evaluation (checked before publishing)."""
    return dg.AssetCheckEvaluation(
        asset_key=dg.AssetKey(outcome.table),
        check_name=outcome.check,
        passed=outcome.passed,
        blocking=True,
        metadata={
            "checked": GATE_CHECKED,
            "field": outcome.field,
            "rule": outcome.rule,
            "detail": outcome.detail,
            "sample": dg.MetadataValue.json(list(outcome.sample)),
        },
    )


def _check_results(
    report: ReportSpec, table: TableResult, landing: LandingResult, max_share: float
) -> list[dg.AssetCheckEvaluation]:
    """The blocking checks as the landing gate decided them before publishing (a published table
    passed them all: a failure publishes nothing), and the monitors, which only warn."""
    spec = TABLES_BY_NAME[table.table]
    results = [_gate_result(outcome) for outcome in table.checks]
    if spec.name == report.tables[0].name:
        share = landing.rejected / landing.lines_total if landing.lines_total else 0.0
        results.append(
            monitor_result(
                spec.name,
                "reject_share",
                passed=landing.rejected == 0,
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

    with beta_apis():  # backfill_policy
        decorate = dg.multi_asset(
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

    @decorate
    def _report(
        context: dg.AssetExecutionContext, bulk_api: BulkApiResource, lake: LakeResource
    ) -> Iterator[dg.AssetMaterialization | dg.AssetCheckEvaluation]:
        """Reports through events, not outputs: an output is one more stored event per table and
        check (33 of a licensor-day's load), the main cost of a run on Dagster's SQLite storage."""
        licensor, day = partition_parts(context.partition_key)
        try:
            outcome = asyncio.run(_load(report, licensor, day, bulk_api, lake, context.log))
        except LoadFailed as exc:
            blocked = exc.__cause__
            if isinstance(blocked, BlockedByChecksError):  # refused before publishing: say which check
                selected = context.selected_asset_check_keys
                for outcome in blocked.failed:
                    if dg.AssetCheckKey(dg.AssetKey(outcome.table), outcome.check) in selected:
                        yield _gate_result(outcome)
            if exc.permanent:
                metadata = {RESUME_AFTER: format_resume(exc.resume_at)} if exc.resume_at else None
                raise dg.Failure(description=str(exc), metadata=metadata, allow_retries=False) from None
            raise
        if outcome.landing is None:
            context.log.warning(f"{outcome.not_available_reason}; nothing materialized")
            return
        landing = outcome.landing
        archive = outcome.archive
        if outcome.empty_files:
            context.log.warning(f"files without data (empty on the API): {', '.join(outcome.empty_files)}")
        for warning in landing.warnings:
            context.log.warning(warning)
        if archive is not None and (mirrored := lake.mirror_archive(archive)):
            context.log.info(f"archived originals also at {mirrored}")
        selected = {key.to_user_string() for key in context.selected_asset_keys}
        selected_checks = context.selected_asset_check_keys
        for table in landing.tables:
            if table.table not in selected:
                continue  # landed with its report (one download), but not asked for in this run
            checks = _check_results(report, table, landing, lake.max_reject_share)
            yield dg.AssetMaterialization(
                asset_key=table.table,
                partition=context.partition_key,
                metadata=partition_metadata(
                    rows=table.rows,
                    path=table.path,
                    size=table.bytes,
                    schema=table.schema,
                    spec=TABLES_BY_NAME[table.table],
                    extra={
                        "source_files": len(archive.files) if archive else 0,
                        "archive_bytes": archive.total_bytes if archive else 0,
                        "empty_files": dg.MetadataValue.json(list(outcome.empty_files)),
                        "rejected_lines": landing.rejected,
                        "unknown_fields": dg.MetadataValue.json(landing.unknown_fields),
                        "field_warnings": dg.MetadataValue.json(list(landing.warnings)),
                        "invalid_track_ids": landing.invalid_track_ids,
                        "seconds": round(outcome.seconds, 3),
                    },
                ),
            )
            yield from (c for c in checks if c.asset_check_key in selected_checks)

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
