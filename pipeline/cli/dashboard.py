"""`spotify-bulk dashboard`: serve the dashboard on localhost, reading the published warehouse."""

from __future__ import annotations

import argparse
from typing import Any

from pipeline.cli.commands import COMMANDS
from pipeline.config import Settings


def add_parser(subparsers: Any) -> None:
    dashboard = subparsers.add_parser("dashboard", help=COMMANDS["dashboard"])
    dashboard.add_argument("--port", type=int, default=8501, help="port on 127.0.0.1 (default 8501)")


def run(args: argparse.Namespace, settings: Settings) -> int:
    from pipeline.dashboard.server import serve

    serve(args.port, settings.lake_dir)
    return 0
