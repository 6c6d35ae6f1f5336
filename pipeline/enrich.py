"""`spotify-bulk enrich`: run the catalog job (Web API enrichment) and report what each asset did.

The job runs in this process on the persistent Dagster instance, so the run and the catalog
assets' materializations show up in the UI like any other.
"""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass, field
from typing import Any

from pipeline.layout import Layout
from pipeline.runner import run_error

JOB_NAME = "catalog_job"
_SHOWN = ("requests", "ids_requested", "found", "not_found", "available")


@dataclass(frozen=True)
class EnrichSummary:
    """The outcome of one enrichment run: per-asset numbers and the Web API requests it made."""

    run_id: str
    success: bool
    seconds: float
    assets: dict[str, dict[str, Any]] = field(default_factory=dict)
    error: str | None = None

    @property
    def requests(self) -> int:
        return sum(int(a.get("requests", 0)) for a in self.assets.values())


def _value(entry: Any) -> Any:
    return getattr(entry, "value", entry)


def run_enrich(*, ttl_days: float = 7.0, max_ids: int = 0, log_level: str = "WARNING") -> EnrichSummary:
    """Materialize every catalog asset once (incrementally); never raises for a failed run."""
    from assets.catalog import catalog_assets
    from pipeline.definitions import defs
    from pipeline.instance import open_instance

    config = {"config": {"ttl_days": ttl_days, "max_ids": max_ids}}
    run_config = {
        "ops": {a.op.name: config for a in catalog_assets},
        "loggers": {"console": {"config": {"log_level": log_level}}},
    }
    started = time.monotonic()
    result = defs.resolve_job_def(JOB_NAME).execute_in_process(
        instance=open_instance(),
        run_config=run_config,
        raise_on_error=False,
        tags={"spotify/launched_by": "cli"},
    )
    assets = {
        event.asset_key.to_user_string(): {
            k: _value(v)
            for k, v in event.materialization.metadata.items()
            if k in (*_SHOWN, "dagster/row_count")
        }
        for event in result.get_asset_materialization_events()
    }
    return EnrichSummary(
        run_id=result.run_id,
        success=result.success,
        seconds=time.monotonic() - started,
        assets=assets,
        error=run_error(result),
    )


def print_summary(summary: EnrichSummary) -> None:
    for name, meta in sorted(summary.assets.items()):
        rows = int(meta.get("dagster/row_count", 0))
        if "requests" not in meta:  # a daily-history table: today's snapshot
            print(f"  {name}: {rows:,} rows in today's snapshot", flush=True)
            continue
        if meta.get("available", True) is False:
            print(f"  {name}: not available to this app (403); skipped, run stays green", flush=True)
            continue
        print(
            f"  {name}: {rows:,} rows; asked {int(meta.get('ids_requested', 0)):,} ids in "
            f"{int(meta.get('requests', 0)):,} requests; {int(meta.get('not_found', 0)):,} not found",
            flush=True,
        )
    print(
        f"Enrichment {'done' if summary.success else 'FAILED'} in {summary.seconds:.1f} s: "
        f"{summary.requests:,} Web API requests (run {summary.run_id})",
        flush=True,
    )
    if summary.error:
        print(f"error: {summary.error}", file=sys.stderr)


# Streamed tracks (any length) and those the track performance mart names, with their artists, every day.
_NAMED_SHARE_SQL = """
WITH streamed AS (
    SELECT DISTINCT licensor, track_id FROM stg_streams
    UNION
    SELECT DISTINCT licensor, track_id FROM stg_sub30_streams
),
named AS (
    SELECT licensor, track_id
    FROM fct_track_performance
    GROUP BY licensor, track_id
    HAVING bool_and(track_name IS NOT NULL AND track_name <> '' AND artists IS NOT NULL AND artists <> '')
)
SELECT count(*), count(n.track_id)
FROM streamed AS s
LEFT JOIN named AS n ON n.licensor = s.licensor AND n.track_id = s.track_id
"""


def named_tracks(layout: Layout) -> tuple[int, int]:
    """(streamed tracks, of which the marts give a name and artists) in the published warehouse."""
    from pipeline.warehouse.query import connect_readonly

    con = connect_readonly(layout)
    try:
        row = con.execute(_NAMED_SHARE_SQL).fetchone()
    finally:
        con.close()
    return (int(row[0]), int(row[1])) if row else (0, 0)


def enrich_command(*, ttl_days: float, max_ids: int, log_level: str) -> int:
    """The CLI command: run, print, exit code 1 on failure."""
    print(f"Enriching the catalog from the Web API (TTL {ttl_days:g} days)", flush=True)
    summary = run_enrich(ttl_days=ttl_days, max_ids=max_ids, log_level=log_level)
    print_summary(summary)
    return 0 if summary.success else 1
