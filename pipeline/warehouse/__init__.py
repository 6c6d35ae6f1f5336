"""The DuckDB warehouse: SQL models from `sql/`, incremental Parquet marts, an atomic catalog."""

from pipeline.warehouse.build import BuildResult, build_warehouse
from pipeline.warehouse.models import Model, ModelError, discover_models
from pipeline.warehouse.query import QueryResult, ReadOnlyError, run_query, top_tracks_table

__all__ = [
    "BuildResult",
    "Model",
    "ModelError",
    "QueryResult",
    "ReadOnlyError",
    "build_warehouse",
    "discover_models",
    "run_query",
    "top_tracks_table",
]
