"""Quality rules for landed partitions: the landing gate's checks, as the report assets use them.

Landing runs them on the staged file before publishing (`pipeline/ingest/landing/gate.py`); the
assets report the same outcomes as blocking Dagster asset checks.
"""

from __future__ import annotations

from pipeline.ingest.landing.gate import gate_checks, schema_matches, stream_length_range

__all__ = ["gate_checks", "schema_matches", "stream_length_range"]
