"""The risk thresholds as DuckDB variables, so the SQL models read the settings (not constants).

`pipeline/config.py` reads the environment; the build's connection gets each threshold as the
variable `risk_<name>` (`getvariable('risk_loop_plays')` in `sql/marts/fct_*risk*.sql`).
"""

from __future__ import annotations

from dataclasses import asdict

import duckdb

from pipeline.config import RiskSettings

VARIABLE_PREFIX = "risk_"


def set_thresholds(con: duckdb.DuckDBPyConnection, risk: RiskSettings) -> None:
    """Set every threshold of `risk` as a DuckDB variable on `con`."""
    for name, value in asdict(risk).items():
        con.execute(f"SET VARIABLE {VARIABLE_PREFIX}{name} = ?", [value])
