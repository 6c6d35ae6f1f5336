"""`spotify-bulk sql`: an interactive read-only SQL prompt over the warehouse (no DuckDB CLI needed)."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from pipeline.cli.commands import COMMANDS
from pipeline.config import Settings
from pipeline.layout import Layout
from pipeline.warehouse.options import WarehouseOptions
from pipeline.warehouse.query import connect_readonly
from pipeline.warehouse.shell import run_shell


def add_parser(subparsers: Any) -> None:
    subparsers.add_parser(
        "sql",
        help=COMMANDS["sql"],
        description="Type SQL statements ending in ';' (results print as `query` tables); .quit or "
        "Ctrl+D leaves. Statements that would write are refused. Reads a script from a pipe too.",
    )


def run(args: argparse.Namespace, settings: Settings) -> int:
    del args
    layout = Layout(settings.lake_dir)
    options = WarehouseOptions.from_settings(settings)
    connect_readonly(layout, options).close()  # no warehouse yet: say so once, before any prompt
    failures = run_shell(layout, sys.stdin, sys.stdout, interactive=sys.stdin.isatty(), options=options)
    return 0 if failures == 0 or sys.stdin.isatty() else 1
