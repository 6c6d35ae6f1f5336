"""A failing command prints one line, a hint and a log path; the traceback is in the log (or with -v)."""

from __future__ import annotations

import errno
import os
import re
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest

from pipeline.cli import build as build_command
from pipeline.cli.failures import explain
from pipeline.cli.main import main


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


def test_a_locked_warehouse_is_explained():
    explained = explain(duckdb.IOException('Could not set lock on file "warehouse.duckdb"'))
    assert explained.expected and "another process" in (explained.hint or "")


def test_an_unusable_data_dir_fails_cleanly_in_a_real_process(tmp_path):
    """The data dir is below a file: nothing can be written there, so the log goes to the temp dir."""
    (tmp_path / "a-file").write_text("")
    env = {k: v for k, v in os.environ.items() if not k.startswith("SPOTIFY_")}
    env |= {
        "SPOTIFY_BULK_DATA_DIR": str(tmp_path / "a-file" / "data"),
        "TMPDIR": str(tmp_path / "tmp"),
        "PYTHONPATH": str(Path(__file__).resolve().parents[2]),
    }
    (tmp_path / "tmp").mkdir()
    done = subprocess.run(
        [sys.executable, "-m", "pipeline.cli", "build"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 1, done.stdout + done.stderr
    assert done.stderr.startswith("spotify-bulk build: error: "), done.stderr
    assert "Traceback" not in done.stderr and "Warning" not in done.stderr
    log = _log_path(done.stderr)
    assert log.is_relative_to(tmp_path / "tmp") and "Traceback" in log.read_text()
