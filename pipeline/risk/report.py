"""The flagged tracks of a window, read from `fct_track_risk` through the public query path.

One reader for the CLI, the Dagster asset check and the bench, so all three say the same thing.
Fee exposure: the DSP charges per flagged track per month (`RiskSettings.fee_eur`), so a track
flagged on any day of a calendar month counts once for that month.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import date
from typing import Any

from pipeline.dates import DateWindow
from pipeline.errors import UsageError
from pipeline.layout import Layout
from pipeline.warehouse.options import WarehouseOptions
from pipeline.warehouse.query import run_query
from pipeline.warehouse.quoting import quote_literal

_FLAGGED_SQL = """
SELECT r.licensor, r.track_id, any_value(d.track_name) AS track_name,
       count(*) AS flagged_days, min(r.date) AS first_flagged, max(r.date) AS last_flagged,
       max(r.risk_score) AS max_risk_score, max(r.artificial_share_estimate) AS max_artificial_share,
       CAST(sum(r.suspicious_streams) AS BIGINT) AS suspicious_streams,
       count(DISTINCT date_trunc('month', r.date)) AS months,
       arg_max(r.reasons, r.risk_score) AS reasons
FROM fct_track_risk AS r
LEFT JOIN dim_tracks AS d ON d.licensor = r.licensor AND d.track_id = r.track_id
WHERE r.flagged AND r.date BETWEEN {start} AND {end} {licensors}
GROUP BY r.licensor, r.track_id
ORDER BY max_risk_score DESC, r.licensor, r.track_id
"""


@dataclass(frozen=True)
class FlaggedTrack:
    """One track flagged on at least one day of the window."""

    licensor: str
    track_id: str
    track_name: str | None
    flagged_days: int
    first_flagged: date
    last_flagged: date
    max_risk_score: int
    max_artificial_share: float
    suspicious_streams: int
    months: int  # calendar months with a flag: each costs one fee
    reasons: str
    fee_exposure_eur: float

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["first_flagged"], out["last_flagged"] = (
            self.first_flagged.isoformat(),
            self.last_flagged.isoformat(),
        )
        return out


def flagged_tracks(
    layout: Layout,
    window: DateWindow,
    licensors: tuple[str, ...] = (),
    options: WarehouseOptions | None = None,
) -> list[FlaggedTrack]:
    """Tracks flagged in `window` (every licensor when `licensors` is empty), riskiest first."""
    options = options or WarehouseOptions()
    names = ", ".join(quote_literal(n) for n in licensors)
    sql = _FLAGGED_SQL.format(
        start=quote_literal(window.start.isoformat()) + "::DATE",
        end=quote_literal(window.end.isoformat()) + "::DATE",
        licensors=f"AND r.licensor IN ({names})" if licensors else "",
    )
    try:
        result = run_query(layout, sql, options)
    except UsageError as exc:
        if "fct_track_risk" in str(exc):  # a warehouse built before the risk marts existed
            raise UsageError(
                f"the warehouse at {layout.warehouse_path} has no risk marts yet: run `spotify-bulk build`"
            ) from None
        raise
    rows = [dict(zip(result.columns, row, strict=True)) for row in result.rows]
    return [
        FlaggedTrack(
            **{k: v for k, v in row.items()},
            fee_exposure_eur=round(row["months"] * options.risk.fee_eur, 2),
        )
        for row in rows
    ]
