"""The artificial-streaming warning as a Dagster asset check on `fct_track_risk`, WARN severity.

It is a check spec of the warehouse build step (`assets/warehouse.py`), evaluated in that step right
after the build published: one result per run over the run's days (a day's build checks that day; a
backfill or the daily look-back, its range), each flagged track with the days it was flagged. It
reads the published warehouse through the public query path, so it sees what readers see, and lists
the flagged tracks in its metadata: track ids, scores, shares and reasons only, never a listener (the
event storage outlives the lake). A monitor: it runs after publishing, so it warns and never blocks.
"""

import dagster as dg

from assets.checks import monitor_result, monitor_spec
from pipeline.dates import DateWindow
from pipeline.layout import Layout
from pipeline.risk.report import flagged_tracks
from pipeline.warehouse.options import WarehouseOptions

ASSET = "fct_track_risk"
CHECK_NAME = "no_artificial_streaming"
MAX_LISTED = 50  # tracks listed in the metadata; the count is always complete
DESCRIPTION = (
    "No track flagged for artificial streaming on the run's days (docs/risk.md); WARN with the "
    "flagged tracks, their scores and reasons otherwise."
)


def risk_check_spec() -> dg.AssetCheckSpec:
    """The monitor's spec, for the warehouse step's check specs."""
    return monitor_spec(CHECK_NAME, ASSET, DESCRIPTION)


def risk_check_result(
    layout: Layout, window: DateWindow, options: WarehouseOptions
) -> dg.AssetCheckEvaluation:
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
    return monitor_result(
        ASSET,
        CHECK_NAME,
        passed=not tracks,
        metadata={
            "days": str(window),
            "flagged_tracks": len(tracks),
            "fee_exposure_eur": round(sum(t.fee_exposure_eur for t in tracks), 2),
            "flagged": dg.MetadataValue.json(listed),
        },
    )
