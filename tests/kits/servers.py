"""OS-package servers in tests: skipped with the install command outside CI, a failure under CI=true."""

from __future__ import annotations

from collections.abc import Callable

from pipeline.orchestration.servers import MissingServer
from tests.kits.os_packages import missing_os_package


def require(check: Callable[[], object]) -> None:
    """Run `check` (e.g. `postgres_programs`); a missing program skips, or fails under CI."""
    try:
        check()
    except MissingServer as exc:
        missing_os_package(str(exc))
