"""Dagster's beta APIs that this project chose to use, declared without a warning per call.

Dagster warns (`BetaWarning`) on every use of a beta API: once per asset and per process, ~90
lines in a demo. The choice is made once, here; the filter matches only these APIs, so any
other beta or deprecated API still warns.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from contextlib import contextmanager

import dagster as dg

# Single-run backfills of date ranges; marts depending on date x licensor lake partitions by date;
# rolling windows reaching before the first partition.
BETA_APIS = (
    "backfill_policy",
    "MultiToSingleDimensionPartitionMapping",
    "allow_nonexistent_upstream_partitions",
)
_MESSAGE = rf"(Class|Parameter) `({'|'.join(BETA_APIS)})`"


@contextmanager
def beta_apis() -> Iterator[None]:
    """Use the chosen beta APIs inside this block without their `BetaWarning`."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=_MESSAGE, category=dg.BetaWarning)
        yield
