"""`spotify-bulk query`: read-only SQL against the published warehouse."""

from __future__ import annotations

import argparse
from typing import Any

from pipeline.cli.commands import COMMANDS
from pipeline.config import Settings
from pipeline.layout import Layout
from pipeline.warehouse.options import WarehouseOptions
from pipeline.warehouse.query import FORMATS, format_result, run_query


def add_parser(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "query",
        help=COMMANDS["query"],
        description="Query warehouse.duckdb read-only; statements that would write are refused.",
    )
    parser.add_argument("sql", help='the SQL, e.g. "SELECT * FROM fct_track_performance LIMIT 5"')
    parser.add_argument(
        "--format",
        choices=FORMATS,
        default="table",
        help="output format (default: table, with rates as percentages)",
    )


def run(args: argparse.Namespace, settings: Settings) -> int:
    result = run_query(Layout(settings.lake_dir), args.sql, WarehouseOptions.from_settings(settings))
    print(format_result(result, args.format))
    return 0
