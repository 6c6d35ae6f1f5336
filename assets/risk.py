"""The artificial-streaming warning as a Dagster asset check, partitioned by day, WARN severity.

A run of one day checks that day; a run of a range (a backfill, the daily look-back) gives one
result for its days, each flagged track with the days it was flagged. It reads the published
warehouse (after `warehouse_catalog`, so the same day's build is what it sees) through the public
query path, and lists the flagged tracks in its metadata: track ids, scores, shares and reasons
only, never a listener (the event storage outlives the lake).
"""

import warnings
from datetime import date

import dagster as dg

from assets.checks import MONITOR_PREFIX
from assets.warehouse import CATALOG
from pipeline.dates import DateWindow
from pipeline.layout import Layout
from pipeline.orchestration.partitions import Partitions
from pipeline.orchestration.resources import LakeResource
from pipeline.risk.report import flagged_tracks
from pipeline.warehouse.options import WarehouseOptions

CHECK_NAME = "no_artificial_streaming"
MAX_LISTED = 50  # tracks listed in the metadata; the count is always complete


def risk_check_result(layout: Layout, window: DateWindow, options: WarehouseOptions) -> dg.AssetCheckResult:
    """The window's flagged tracks as a check result: passed when none, else a WARN with the list."""
    tracks = flagged_tracks(layout, window, options=options)
    listed = [
        {
            "licensor": t.licensor,
            "track_id": t.track_id,
            "track_name": t.track_name,
            "risk_score": t.max_risk_score,
            "artificial_share": round(t.max_artificial_share, 3),
            "reasons": t.reasons,
            "flagged_days": t.flagged_days,
            "first_flagged": t.first_flagged.isoformat(),
            "last_flagged": t.last_flagged.isoformat(),
        }
        for t in tracks[:MAX_LISTED]
    ]
    return dg.AssetCheckResult(
        check_name=CHECK_NAME,
        passed=not tracks,
        severity=dg.AssetCheckSeverity.WARN,
        metadata={
            "days": str(window),
            "flagged_tracks": len(tracks),
            "fee_exposure_eur": round(sum(t.fee_exposure_eur for t in tracks), 2),
            "flagged": dg.MetadataValue.json(listed),
        },
    )


def risk_checks(partitions: Partitions) -> list[dg.AssetChecksDefinition]:
    """The per-day artificial-streaming check on `fct_track_risk`."""

    with warnings.catch_warnings():  # per-day check partitions are a preview API: chosen, once, here
        warnings.filterwarnings("ignore", message="Specifying a partitions_def", category=dg.PreviewWarning)
        decorate = dg.asset_check(
            asset="fct_track_risk",
            name=CHECK_NAME,
            description=MONITOR_PREFIX
            + "No track flagged for artificial streaming that day (docs/risk.md); WARN with the "
            "flagged tracks, their scores and reasons otherwise.",
            additional_deps=[CATALOG],
            partitions_def=partitions.dates,
            blocking=False,
        )

        @decorate
        def no_artificial_streaming(
            context: dg.AssetCheckExecutionContext, lake: LakeResource
        ) -> dg.AssetCheckResult:
            keys = context.partition_key_range  # one key, or the run's range of days
            window = DateWindow(date.fromisoformat(keys.start), date.fromisoformat(keys.end))
            return risk_check_result(lake.layout, window, lake.warehouse_options())

    return [no_artificial_streaming]
