"""A load expires the snapshots it superseded, so a backfill's commits stay as cheap as its first.

Without it only builds expire snapshots, and a backfill with no build between its days adds one
snapshot per table per licensor-day: every commit copies the table's whole metadata, so each one
costs more than the last (87 ms per commit over a streams table's first 100 new days, 513 ms over
days 301-400; bench/RESULTS.md, issue 21). A load expires what a build would: snapshots superseded
for longer than the readers' grace period and kept by no tag (published catalogs' snapshots are
tagged). It never expires while a build is reading the lake (a running build's pins are tagged only
when it publishes): it asks without waiting and leaves expiry to that build.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from pipeline.storage.catalog_lock import no_build_reading
from pipeline.storage.tables import Commit, TableLake

# A load expires a table's snapshots once it holds this many superseded ones: each commit then
# copies a few more snapshots at most, and one expiry commit serves several loads (expiring after
# every load cost a re-landed licensor-day ~0.1-0.2 s more on eight tables; bench/RESULTS.md).
AT_LEAST = 8


@dataclass(frozen=True)
class Expiry:
    """What a load's expiry did: how many snapshots went, or who is left to expire them."""

    expired: int = 0
    left_to: str = ""  # "": done; else "the running build"

    def __str__(self) -> str:
        if self.left_to:
            return f"snapshot expiry left to {self.left_to}"
        return f"expired {self.expired} superseded snapshot(s)"


def expire_superseded(
    lake: TableLake, commits: Iterable[Commit], grace_seconds: float, *, at_least: int = AT_LEAST
) -> Expiry:
    """After a load's `commits`: expire the snapshots superseded for longer than `grace_seconds`
    (and files only they held), in each committed table holding `at_least` superseded ones, unless
    a build is reading the lake. The commits say how many snapshots each table holds, so a load
    with nothing due reads nothing more. A concurrent commit to one of the tables wins the race
    (`TableLake.expire` skips it): its snapshots are left to the next load or build, and the load's
    data is committed either way."""
    due = [commit.table for commit in commits if commit.snapshots > at_least]  # all but the current
    if not due:
        return Expiry()
    with no_build_reading(lake.catalog_uri) as free:
        if not free:
            return Expiry(left_to="the running build")
        cutoff = datetime.now(UTC) - timedelta(seconds=grace_seconds)
        return Expiry(lake.expire(cutoff, tables=due, contained=True, at_least=at_least))
