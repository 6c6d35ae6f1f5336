"""A failing command prints one line, a hint and a log path; the traceback is in the log (or with -v)."""

from __future__ import annotations

import errno
import os
import re
import subprocess
import sys
from datetime import date
from pathlib import Path

import duckdb
import pytest

from pipeline.cli import build as build_command
from pipeline.cli.failures import explain, log_dirs, write_log
from pipeline.cli.main import main
from pipeline.layout import Layout
from pipeline.orchestration.warehouse_runs import BuildFailed
from tests.kits.fake_lake import day_tables, write_partition


@pytest.fixture
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("SPOTIFY_BULK_DATA_DIR", str(tmp_path / "data"))
    return tmp_path / "data"


def _failing_build(monkeypatch: pytest.MonkeyPatch, error: BaseException) -> None:
    def run(args, settings):
        raise error

    monkeypatch.setattr(build_command, "run", run)


def _log_path(stderr: str) -> Path:
    found = re.search(r"details in (\S+\.log)", stderr)
    assert found, stderr
    return Path(found.group(1))


def test_disk_full_prints_one_line_a_hint_and_the_log_path(data_dir, monkeypatch, capsys):
    _failing_build(monkeypatch, OSError(errno.ENOSPC, "No space left on device", str(data_dir / "marts")))
    assert main(["build"]) == 1
    err = capsys.readouterr().err
    assert err.startswith(f"spotify-bulk build: error: no space left on the disk: {data_dir / 'marts'}\n")
    assert "free some space" in err and "--verbose" in err
    assert "Traceback" not in err and len(err.splitlines()) == 2
    log = _log_path(err)
    assert log.parent == data_dir / "logs"
    assert "Traceback" in log.read_text() and "No space left on device" in log.read_text()


def test_verbose_shows_the_traceback_too(data_dir, monkeypatch, capsys):
    _failing_build(monkeypatch, OSError(errno.EACCES, "Permission denied", "/srv/lake"))
    assert main(["build", "--verbose"]) == 1
    err = capsys.readouterr().err
    assert "spotify-bulk build: error: permission denied: /srv/lake" in err
    assert "Traceback" in err and _log_path(err).exists()


def test_unexpected_errors_are_one_line_and_a_log_too(data_dir, monkeypatch, capsys):
    _failing_build(monkeypatch, RuntimeError("boom"))
    assert main(["-v", "build"]) == 1 and "Traceback" in capsys.readouterr().err
    assert main(["build"]) == 1
    err = capsys.readouterr().err
    assert "spotify-bulk build: error: unexpected RuntimeError: boom" in err and "bug" in err
    assert "Traceback" not in err and "RuntimeError: boom" in _log_path(err).read_text()


def test_interrupt_exits_130_with_a_hint(data_dir, monkeypatch, capsys):
    _failing_build(monkeypatch, KeyboardInterrupt())
    assert main(["build"]) == 130
    err = capsys.readouterr().err
    assert "spotify-bulk build: error: interrupted" in err and "run the same command again" in err


def test_a_locked_warehouse_and_a_failed_build_run_are_explained():
    explained = explain(duckdb.IOException('Could not set lock on file "warehouse.duckdb"'))
    assert explained.expected and "another process" in (explained.hint or "")
    explained = explain(BuildFailed("warehouse run 1234 failed: boom"))
    assert explained.expected and "Dagster UI" in (explained.hint or "")


def test_the_log_goes_to_the_temp_dir_when_the_data_dir_is_unwritable(tmp_path):
    (tmp_path / "a-file").write_text("")
    log = write_log(RuntimeError("boom"), ["build"], log_dirs(tmp_path / "a-file" / "data"))
    assert log is not None and not log.is_relative_to(tmp_path / "a-file")
    first, second = log_dirs(tmp_path / "a-file" / "data")
    assert first == tmp_path / "a-file" / "data" / "logs" and log.parent == second
    assert "RuntimeError: boom" in log.read_text()
    log.unlink()


def test_a_failed_build_run_is_one_line_and_a_log_in_a_real_process(tmp_path):
    """A warehouse run whose steps cannot take the build lock (`.locks` is a file): no traceback."""
    data_dir = tmp_path / "data"
    day = date(2026, 6, 12)
    write_partition(Layout(data_dir), "streams", "acme", day, day_tables("acme", day)["streams"])
    (data_dir / ".locks").write_text("not a directory")
    env = {k: v for k, v in os.environ.items() if not k.startswith("SPOTIFY_")}
    env |= {
        "SPOTIFY_BULK_DATA_DIR": str(data_dir),
        "DAGSTER_HOME": str(tmp_path / "dagster_home"),
        "PYTHONPATH": str(Path(__file__).resolve().parents[2]),
    }
    done = subprocess.run(
        [sys.executable, "-m", "pipeline.cli", "build"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 1, done.stdout + done.stderr
    assert done.stderr.startswith("spotify-bulk build: error: warehouse run "), done.stderr
    assert "Traceback" not in done.stderr and "Warning" not in done.stderr
    assert len(done.stderr.splitlines()) == 2 and "Dagster UI" in done.stderr
    log = _log_path(done.stderr)
    assert log.parent == data_dir / "logs" and "Traceback" in log.read_text()
