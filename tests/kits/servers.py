"""OS-package servers in tests: skipped with the install command outside CI, a failure under CI=true."""

from __future__ import annotations

import os
from collections.abc import Callable

import pytest

from pipeline.orchestration.servers import MissingServer


def require(check: Callable[[], object]) -> None:
    """Run `check` (e.g. `postgres_programs`); a missing program skips, or fails under CI."""
    try:
        check()
    except MissingServer as exc:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"{exc} (CI must install it: see .ci/run)")
        pytest.skip(str(exc))
