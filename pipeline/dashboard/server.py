"""`spotify-bulk dashboard`: serve the Streamlit page on loopback only, telemetry off.

The command replaces its own process with Streamlit's server (exec), so the process a user or a
test started is the server itself: Ctrl+C or a signal to it stops the dashboard, leaving no orphan.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from pipeline.config import child_environment
from pipeline.errors import UsageError

APP = Path(__file__).with_name("app.py")
HOST = "127.0.0.1"
DEFAULT_PORT = 8501


def streamlit_command(port: int, *, python: str = sys.executable) -> list[str]:
    """The `streamlit run` command line: loopback, headless, no usage stats, no file watcher."""
    if not 1 <= port <= 65535:
        raise UsageError(f"--port must be between 1 and 65535, not {port}")
    return [
        python,
        "-m",
        "streamlit",
        "run",
        str(APP),
        "--server.address",
        HOST,
        "--server.port",
        str(port),
        "--server.headless",
        "true",
        "--browser.gatherUsageStats",
        "false",
        "--server.fileWatcherType",
        "none",
        "--global.developmentMode",
        "false",
        "--client.toolbarMode",
        "viewer",
        "--theme.base",
        "light",
    ]


def serve(port: int, data_dir: Path) -> None:
    """Exec Streamlit on `HOST:port`, reading the warehouse under `data_dir` (never returns)."""
    command = streamlit_command(port)
    try:
        import streamlit  # noqa: F401  (fail with a clear message, not a traceback in the child)
    except ImportError:
        raise UsageError("the dashboard needs Streamlit: run `uv sync` (a project dependency)") from None
    env = child_environment(SPOTIFY_BULK_DATA_DIR=str(data_dir), STREAMLIT_BROWSER_GATHER_USAGE_STATS="false")
    print(f"Dashboard on http://{HOST}:{port}/ reading {data_dir / 'warehouse.duckdb'} (Ctrl+C to stop)")
    sys.stdout.flush()
    sys.stderr.flush()
    os.execve(command[0], command, env)  # noqa: S606  (a fixed command line, no shell)
