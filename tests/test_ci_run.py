"""`.ci/run` runs exactly the README's test commands, and pytest's exit 5
(nothing collected) does not fail CI while any other failure does."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
CI = (ROOT / ".ci" / "run").read_text(encoding="utf-8")


def readme_test_commands() -> list[str]:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    development = readme[readme.index("## Development") :]
    start = development.index("```bash")
    block = development[start : development.index("```", start + 3)]
    return [line.split("#")[0].strip() for line in block.splitlines() if line.startswith("uv run pytest")]


def ci_test_commands() -> list[str]:
    calls = re.findall(r"^tests((?: [^\n#]*)?)$", CI, flags=re.MULTILINE)
    return [f"uv run pytest{args}".strip() for args in calls]


def test_ci_runs_exactly_the_readme_test_commands():
    assert ci_test_commands() == readme_test_commands() == ["uv run pytest", "uv run pytest -m slow"]


@pytest.mark.parametrize(("pytest_exit", "ci_exit"), [(0, 0), (5, 0), (1, 1), (2, 2)])
def test_only_pytests_exit_5_is_not_a_failure(tmp_path, pytest_exit, ci_exit):
    function = re.search(r"^tests\(\) \{.*?^\}$", CI, flags=re.MULTILINE | re.DOTALL)
    assert function is not None
    fake = tmp_path / "uv"
    fake.write_text(f"#!/bin/sh\nexit {pytest_exit}\n")
    fake.chmod(0o755)
    script = f"set -euo pipefail\n{function.group(0)}\ntests -m slow\necho after\n"
    done = subprocess.run(
        ["bash", "-c", script], env={"PATH": f"{tmp_path}:/usr/bin:/bin"}, capture_output=True, text=True
    )
    assert done.returncode == ci_exit, done.stdout + done.stderr
    assert ("after" in done.stdout) == (ci_exit == 0)  # a failure stops CI there
