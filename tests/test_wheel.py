"""A non-editable install works: the wheel ships the SQL, loads the definitions and runs the demo."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _run(command: list[str], *, cwd: Path, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SPOTIFY_", "VIRTUAL_ENV", "DAGSTER_"))}
    env["DAGSTER_TELEMETRY_DISABLED"] = "1"
    done = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    assert done.returncode == 0, f"{' '.join(command)} failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    return done


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh virtual environment with the built wheel and the locked dependency versions."""
    uv = shutil.which("uv")
    if uv is None:
        pytest.fail("uv is needed to build the wheel (pip install uv)")
    work = tmp_path_factory.mktemp("wheel")
    _run([uv, "build", "--wheel", "-q", "-o", str(work / "dist"), str(ROOT)], cwd=work)
    (wheel,) = (work / "dist").glob("*.whl")
    constraints = work / "constraints.txt"
    _run(
        [
            uv,
            "export",
            "--frozen",
            "--no-dev",
            "--no-emit-project",
            "--no-hashes",
            "-q",
            "-o",
            str(constraints),
        ],
        cwd=ROOT,
    )
    _run([uv, "venv", "-q", str(work / "venv")], cwd=work)
    python = work / "venv" / "bin" / "python"
    _run([uv, "pip", "install", "-q", "--python", str(python), "-c", str(constraints), str(wheel)], cwd=work)
    return work


def test_the_wheel_ships_the_sql_and_loads_the_definitions(installed: Path):
    python = installed / "venv" / "bin" / "python"
    code = (
        "import pathlib, dagster as dg\n"
        "import pipeline\n"
        "from pipeline.warehouse.models import SQL_ROOT, discover_models\n"
        "from pipeline.definitions import build_definitions\n"
        "from pipeline.config import Settings\n"
        "assert SQL_ROOT.is_relative_to(pathlib.Path(pipeline.__file__).parent), SQL_ROOT\n"
        "dg.Definitions.validate_loadable(build_definitions(Settings(licensors=('acme',))))\n"
        "print(len(discover_models()), 'models')\n"
    )
    done = _run([str(python), "-c", code], cwd=installed)
    assert int(done.stdout.split()[0]) >= 20


def test_the_installed_command_runs_the_demo(installed: Path):
    run_dir = installed / "run"
    run_dir.mkdir()
    command = [
        str(installed / "venv" / "bin" / "spotify-bulk"),
        "demo",
        "--days",
        "1",
        "--rows-per-day",
        "60",
    ]
    done = _run(command, cwd=run_dir)
    assert "exit code 0" in done.stdout
    assert "Published" in done.stdout
    assert (run_dir / "data" / "warehouse.duckdb").is_file()
