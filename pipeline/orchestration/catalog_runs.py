"""Run the catalog job (Web API enrichment) in this process and collect what each asset did.

The job runs on the persistent Dagster instance, so the run and the catalog assets'
materializations show up in the UI like any other.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import dagster as dg

from pipeline.config import Settings
from pipeline.orchestration.instance import open_instance
from pipeline.orchestration.runs import console_logs, run_error

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


def run_enrich(
    settings: Settings,
    defs: dg.Definitions,
    *,
    ttl_days: float = 7.0,
    max_ids: int = 0,
    log_level: str = "CRITICAL",
) -> EnrichSummary:
    """Materialize every catalog asset of `defs` once (incrementally); never raises for a failed run.

    The definitions come from the caller (the CLI): this layer never imports the ones above it.
    """
    job = defs.resolve_job_def(JOB_NAME)
    config = {"config": {"ttl_days": ttl_days, "max_ids": max_ids}}
    run_config = {
        "ops": {node.name: config for node in job.graph.node_defs},
        **console_logs(log_level),
    }
    started = time.monotonic()
    result = job.execute_in_process(
        instance=open_instance(settings),
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
