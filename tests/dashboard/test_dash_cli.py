"""`spotify-bulk dashboard`: the command line it execs, and bad ports refused in a second."""

from __future__ import annotations

import inspect

import pytest

from pipeline.cli import demo
from pipeline.cli import main as cli
from pipeline.dashboard.server import APP, streamlit_command


def _option(command: list[str], name: str) -> str:
    return command[command.index(name) + 1]


def test_streamlit_serves_on_loopback_headless_without_telemetry():
    command = streamlit_command(8600, python="python3")
    assert command[:5] == ["python3", "-m", "streamlit", "run", str(APP)] and APP.is_file()
    assert _option(command, "--server.address") == "127.0.0.1"
    assert _option(command, "--server.port") == "8600"
    assert _option(command, "--server.headless") == "true"
    assert _option(command, "--browser.gatherUsageStats") == "false"


def test_the_parser_takes_a_port_and_defaults_to_streamlits():
    parser = cli.build_parser()
    assert parser.parse_args(["dashboard"]).port == 8501
    assert parser.parse_args(["dashboard", "--port", "8600"]).port == 8600


@pytest.mark.parametrize("port", ["0", "70000"])
def test_a_bad_port_fails_with_a_clear_message(port, capsys):
    assert cli.main(["dashboard", "--port", port]) == cli.EXIT_USAGE
    assert "--port must be between 1 and 65535" in capsys.readouterr().err


def test_the_demo_points_at_the_dashboard():
    assert "spotify-bulk dashboard" in inspect.getsource(demo.run_demo)
