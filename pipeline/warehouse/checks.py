"""Reconciliation checks: the lake agrees with itself, and no mart has a duplicate key.

Each check counts offending rows inside a date window and keeps a few as a sample, so a failure
says what is wrong, not only that something is. A reconciliation difference that the lines
rejected at landing fully explain (`reconcile.py`) passes as a warning with the numbers.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date

import duckdb

from pipeline.dates import DateWindow
from pipeline.ingest.tally import RejectTally
from pipeline.warehouse.models import Model
from pipeline.warehouse.quoting import quote_columns, quote_identifier
from pipeline.warehouse.reconcile import EXPLAINERS, explain, rejects_note, tolerance_note

SAMPLE_ROWS = 5
MAX_EXPLAINED_ROWS = 100_000  # more differences than this are never a handful of rejected lines


@dataclass(frozen=True)
class CheckOutcome:
    """The result of one check on one model for one window."""

    name: str
    model: str
    passed: bool
    failures: int
    description: str
    sample: tuple[tuple[object, ...], ...] = ()
    explained: int = 0  # differences the lines rejected at landing account for
    note: str = ""  # "N lines rejected at landing on these days: ..." when rejects were involved

    @property
    def warning(self) -> bool:
        """Passed, but only because recorded rejects explain its differences."""
        return self.passed and self.explained > 0


# A check's SQL returns the offending rows; parameters are the window.
_COUNT_MATCHES = """
WITH loaded AS (
    SELECT licensor, date FROM _lake_partitions WHERE table_name = 'aggregated_count'
    INTERSECT
    SELECT licensor, date FROM _lake_partitions WHERE table_name = 'streams'
),
agg AS (
    SELECT licensor, date, track_id, country, sum(streams) AS streams
    FROM stg_aggregated_count WHERE date BETWEEN $start AND $end
    GROUP BY licensor, date, track_id, country
),
raw AS (
    SELECT licensor, date, track_id, country, count(*) AS streams
    FROM stg_streams WHERE date BETWEEN $start AND $end
    GROUP BY licensor, date, track_id, country
)
SELECT coalesce(a.licensor, r.licensor) AS licensor, coalesce(a.date, r.date) AS date,
       coalesce(a.track_id, r.track_id) AS track_id, coalesce(a.country, r.country) AS country,
       coalesce(a.streams, 0) AS aggregated_streams, coalesce(r.streams, 0) AS stream_rows
FROM agg AS a
FULL OUTER JOIN raw AS r
    ON a.licensor = r.licensor AND a.date = r.date AND a.track_id = r.track_id AND a.country = r.country
SEMI JOIN loaded AS l ON l.licensor = coalesce(a.licensor, r.licensor) AND l.date = coalesce(a.date, r.date)
WHERE coalesce(a.streams, 0) <> coalesce(r.streams, 0)
ORDER BY 1, 2, 3, 4
"""

_KNOWN = """
WITH loaded AS (
    SELECT licensor, date FROM _lake_partitions WHERE table_name = '{table}'
),
streamed AS (
    SELECT DISTINCT licensor, date, {column} FROM stg_streams WHERE date BETWEEN $start AND $end
),
known AS (
    SELECT DISTINCT licensor, date, {column} FROM {model} WHERE date BETWEEN $start AND $end
)
SELECT s.licensor, s.date, s.{column}
FROM streamed AS s
SEMI JOIN loaded AS l ON l.licensor = s.licensor AND l.date = s.date
ANTI JOIN known AS k ON k.licensor = s.licensor AND k.date = s.date AND k.{column} = s.{column}
ORDER BY 1, 2, 3
"""

LAKE_CHECKS: dict[str, tuple[str, str, str]] = {
    # name: (model the check is attached to, description, SQL)
    "aggregated_count_matches_streams": (
        "stg_aggregated_count",
        "For every track, country and date, the aggregated count equals the number of stream rows.",
        _COUNT_MATCHES,
    ),
    "streamed_users_in_users": (
        "stg_streams",
        "Every user who streamed on a day is in that day's users report.",
        _KNOWN.format(table="users", column="user_id", model="stg_users"),
    ),
    "streamed_tracks_in_tracks": (
        "stg_streams",
        "Every track streamed on a day is in that day's tracks report.",
        _KNOWN.format(table="tracks", column="track_id", model="stg_tracks"),
    ),
}
UNIQUE_KEY = "unique_key"
# Checks whose sample rows end in a user id: shown locally, never written to Dagster's metadata.
PERSONAL_SAMPLES = frozenset({"streamed_users_in_users"})
LAKE_CHECK_MODELS = ("stg_streams", "stg_users", "stg_tracks", "stg_aggregated_count")  # what their SQL reads


def _outcome(
    con: duckdb.DuckDBPyConnection,
    sql: str,
    params: dict[str, date],
    name: str,
    model: str,
    description: str,
    tallies: Sequence[RejectTally] = (),
    tolerance: float = 0.0,
) -> CheckOutcome:
    failures = con.execute(f"SELECT count(*) FROM (\n{sql}\n)", params).fetchone()
    count = int(failures[0]) if failures else 0
    if count and name in EXPLAINERS and count <= MAX_EXPLAINED_ROWS:
        found = explain(name, con.execute(sql, params).fetchall(), tallies, tolerance=tolerance)
        notes = (rejects_note(found.rejects), tolerance_note(name, found, tolerance))
        note = "; ".join(n for n in notes if n)
        sample = found.unexplained[:SAMPLE_ROWS] or found.unexplained
        unexplained = len(found.unexplained)
        return CheckOutcome(
            name, model, unexplained == 0, unexplained, description, sample, found.explained, note
        )
    sample = con.execute(f"SELECT * FROM (\n{sql}\n) LIMIT {SAMPLE_ROWS}", params).fetchall() if count else []
    return CheckOutcome(name, model, count == 0, count, description, tuple(tuple(r) for r in sample))


def lake_checks(
    con: duckdb.DuckDBPyConnection,
    start: date,
    end: date,
    *,
    only_model: str | None = None,
    tallies: Sequence[RejectTally] = (),
    tolerance: float = 0.0,
) -> list[CheckOutcome]:
    """The reconciliation checks over the staging views for a window (optionally one model's).

    `tallies` are the window's reject tallies: differences they explain pass, as warnings; so do
    count differences within `tolerance` (SPOTIFY_BULK_RECONCILE_TOLERANCE, a share; 0 is exact).
    """
    return [
        _outcome(con, sql, {"start": start, "end": end}, name, model, description, tallies, tolerance)
        for name, (model, description, sql) in LAKE_CHECKS.items()
        if only_model is None or model == only_model
    ]


def unique_key_check(con: duckdb.DuckDBPyConnection, model: Model, window: DateWindow | None) -> CheckOutcome:
    """No two rows of a mart share a key (within `window` for date-partitioned marts, if given)."""
    keys = quote_columns(list(model.key))
    windowed = model.partitioned and window is not None
    where = "WHERE date BETWEEN $start AND $end" if windowed else ""
    params = {"start": window.start, "end": window.end} if windowed and window else {}
    sql = (
        f"SELECT {keys}, count(*) AS copies FROM {quote_identifier(model.name)} {where} "
        f"GROUP BY {keys} HAVING count(*) > 1 ORDER BY copies DESC"
    )
    description = f"No duplicate ({', '.join(model.key)}) in {model.name}."
    return _outcome(con, sql, params, UNIQUE_KEY, model.name, description)
