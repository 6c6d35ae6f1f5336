"""Asset checks, labelled by when they run: blocking ones before publishing, monitors after.

A check can only block what it runs before: the landing gate's quality rules run on the staged file
before publishing (`pipeline/ingest/landing/gate.py`) and the report assets report its verdict as
blocking Dagster checks. A check that runs on something already published cannot undo it: it is a
monitor, declared non-blocking and reported with severity WARN, and says so in its description.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import dagster as dg

from pipeline.ingest.landing.gate import gate_checks, schema_matches, stream_length_range

__all__ = [
    "blocking_description",
    "gate_checks",
    "monitor_result",
    "monitor_spec",
    "schema_matches",
    "stream_length_range",
]

BLOCKING_PREFIX = "Blocking (checked before publishing): "
MONITOR_PREFIX = "Monitor (checked after publishing; warns, cannot block): "


def blocking_description(description: str) -> str:
    return BLOCKING_PREFIX + description


def monitor_spec(name: str, asset: str, description: str) -> dg.AssetCheckSpec:
    """A check on published data: never blocking, labelled as a monitor."""
    return dg.AssetCheckSpec(name, asset=asset, blocking=False, description=MONITOR_PREFIX + description)


def monitor_result(
    asset: str, name: str, *, passed: bool, metadata: Mapping[str, Any] | None = None
) -> dg.AssetCheckEvaluation:
    """A monitor's outcome: a failure warns (severity WARN), it does not stop downstream assets."""
    return dg.AssetCheckEvaluation(
        asset_key=dg.AssetKey(asset),
        check_name=name,
        passed=passed,
        severity=dg.AssetCheckSeverity.WARN,
        blocking=False,
        metadata=dict(metadata or {}),
    )
