"""Reconciliation that understands accepted rejects: a difference the landing explains is a warning.

Landing accepts a day with a few refused lines (under SPOTIFY_BULK_MAX_REJECT_SHARE) and records
them in a per report-day tally (`pipeline/ingest/tally.py`). A rejected stream line leaves
the aggregated count one higher than the stream rows for its track and country; a rejected users
or tracks line leaves a streamed user or track unknown. Each offending row of a reconciliation
check is explained when the tally of that licensor-day accounts for it:

- exactly, by the rejected lines attributed to its track (and country), or
- otherwise in total: the unattributed differences of the day are at most its rejected lines not
  already used to explain an exact match.

The aggregated counts are compared with the stream rows exactly by default: the emulator reconciles
by construction, but a real licensor's aggregated numbers may differ by design (streams Spotify
counts that the streams report leaves out). `SPOTIFY_BULK_RECONCILE_TOLERANCE` is then the share of a
count a difference may reach and still pass (as a warning, with the number tolerated).

Anything else stays a failure and blocks the build, with what to set when the difference is by design.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import date

from pipeline.ingest.tally import RejectTally

Row = tuple[object, ...]
DayKey = tuple[str, date]
COUNT_CHECK = "aggregated_count_matches_streams"
TOLERANCE_ENV = "SPOTIFY_BULK_RECONCILE_TOLERANCE"


@dataclass(frozen=True)
class Explanation:
    """Which offending rows the recorded rejects explain, and the rejects used for it."""

    unexplained: tuple[Row, ...]
    explained: int  # by rejects or, for the count check, within the tolerance
    rejects: tuple[RejectTally, ...]  # the tallies (with rejects) of the days the differences are on
    tolerated: int = 0  # count differences within the tolerance (part of `explained`)

    @property
    def rejected_lines(self) -> int:
        return sum(t.rejected for t in self.rejects)


class _Budget:
    """One licensor-day's rejected lines of one report, spent on the differences they explain."""

    def __init__(self, tally: RejectTally | None) -> None:
        self.exact: Counter[tuple[str, str | None]] = Counter(tally.attributed if tally else {})
        self.tracks = {track for track, _country in self.exact}
        self.total = tally.rejected if tally else 0

    def spend_exact(self, track: str, country: str | None, lines: int) -> bool:
        for key in ((track, country), (track, None)):
            if self.exact[key] == lines:
                self.exact[key] = 0
                self.total -= lines
                return True
        return False


def _tallies_by_day(tallies: Iterable[RejectTally], report: str) -> dict[DayKey, RejectTally]:
    return {(t.licensor, t.day): t for t in tallies if t.report == report}


def _count_matches(rows: Sequence[Row], tallies: Sequence[RejectTally]) -> list[Row]:
    """(licensor, date, track_id, country, aggregated, stream rows): streams or aggregated rejected."""
    streams = {k: _Budget(t) for k, t in _tallies_by_day(tallies, "streams").items()}
    aggregated = {k: _Budget(t) for k, t in _tallies_by_day(tallies, "aggregated_streams").items()}
    loose: defaultdict[DayKey, list[Row]] = defaultdict(list)
    for row in rows:
        licensor, day, track, country, agg, raw = row
        key = (str(licensor), day)  # type: ignore[arg-type]
        missing_rows = int(agg) - int(raw)  # type: ignore[call-overload]
        if (
            missing_rows > 0
            and key in streams
            and streams[key].spend_exact(str(track), str(country), missing_rows)
        ):
            continue
        if missing_rows < 0 and key in aggregated and str(track) in aggregated[key].tracks:
            continue  # the track's aggregated line itself was rejected
        loose[key].append(row)
    unexplained = []
    for key, day_rows in loose.items():
        extra_rows = sum(max(0, int(r[4]) - int(r[5])) for r in day_rows)  # type: ignore[call-overload]
        lost_tracks = {r[2] for r in day_rows if int(r[5]) > int(r[4])}  # type: ignore[call-overload]
        stream_budget = streams[key].total if key in streams else 0
        agg_budget = aggregated[key].total if key in aggregated else 0
        if extra_rows > stream_budget or len(lost_tracks) > agg_budget:
            unexplained += day_rows
    return unexplained


def _known(report: str) -> Callable[[Sequence[Row], Sequence[RejectTally]], list[Row]]:
    """(licensor, date, id): an id streamed but unknown to `report`, whose line may have been rejected."""

    def explain(rows: Sequence[Row], tallies: Sequence[RejectTally]) -> list[Row]:
        budgets = {k: _Budget(t) for k, t in _tallies_by_day(tallies, report).items()}
        loose: defaultdict[DayKey, list[Row]] = defaultdict(list)
        for row in rows:
            key = (str(row[0]), row[1])  # type: ignore[arg-type]
            budget = budgets.get(key)
            if budget is not None and budget.spend_exact(str(row[2]), None, 1):
                continue
            loose[key].append(row)
        return [
            row
            for key, day_rows in loose.items()
            if len(day_rows) > (budgets[key].total if key in budgets else 0)
            for row in day_rows
        ]

    return explain


EXPLAINERS: dict[str, Callable[[Sequence[Row], Sequence[RejectTally]], list[Row]]] = {
    "aggregated_count_matches_streams": _count_matches,
    "streamed_users_in_users": _known("users"),
    "streamed_tracks_in_tracks": _known("tracks"),
}


def within_tolerance(row: Row, tolerance: float) -> bool:
    """Whether a count check row's (aggregated, stream rows) differ by at most `tolerance` of the
    larger (0: exactly equal)."""
    aggregated, stream_rows = int(row[4]), int(row[5])  # type: ignore[call-overload]
    return abs(aggregated - stream_rows) <= tolerance * max(aggregated, stream_rows)


def explain(
    check: str, rows: Sequence[Row], tallies: Sequence[RejectTally], *, tolerance: float = 0.0
) -> Explanation:
    """Split a check's offending rows into those the rejects (or the count tolerance) explain and
    the rest."""
    explainer = EXPLAINERS.get(check)
    if explainer is None or not rows:
        return Explanation(tuple(rows), 0, ())
    tolerated = 0
    if check == COUNT_CHECK and tolerance > 0:
        beyond = [row for row in rows if not within_tolerance(row, tolerance)]
        tolerated, rows = len(rows) - len(beyond), beyond
    unexplained = explainer(rows, tallies) if rows else []
    days = {(str(r[0]), r[1]) for r in rows}
    used = tuple(t for t in tallies if t.rejected and (t.licensor, t.day) in days)
    explained = tolerated + len(rows) - len(unexplained)
    return Explanation(tuple(unexplained), explained, used, tolerated)


def tolerance_note(check: str, found: Explanation, tolerance: float) -> str:
    """What the tolerance let pass, and, on a failure of the count check, what to set when the
    licensor's numbers differ by design; empty for the other checks."""
    if check != COUNT_CHECK:
        return ""
    notes = []
    if found.tolerated:
        notes.append(f"{found.tolerated:,} count differences within {TOLERANCE_ENV}={tolerance:g}")
    if found.unexplained:
        notes.append(
            f"{len(found.unexplained):,} aggregated counts differ from the stream rows beyond "
            f"{TOLERANCE_ENV}={tolerance:g}" + (" (exact)" if tolerance == 0 else "") + ". If this "
            "licensor's aggregated numbers differ from its stream rows by design (Spotify counts "
            f"streams its streams report leaves out), set {TOLERANCE_ENV} to the share accepted, "
            "e.g. 0.01 for 1%; otherwise re-pull the days in the sample"
        )
    return "; ".join(notes)


def rejects_note(tallies: Iterable[RejectTally]) -> str:
    """ "N lines rejected at landing on these days: ..." (empty when nothing was rejected)."""
    with_rejects = [t for t in tallies if t.rejected]
    if not with_rejects:
        return ""
    total = sum(t.rejected for t in with_rejects)
    days = "; ".join(
        f"{t.day:%Y-%m-%d} {t.licensor} {t.report} {t.rejected:,}"
        for t in sorted(with_rejects, key=lambda t: (t.day, t.licensor, t.report))
    )
    return f"{total:,} lines rejected at landing on these days: {days}"
