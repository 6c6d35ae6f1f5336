"""Tests that need an OS package (Chromium, PostgreSQL, Redis): skipped with the install command on
a developer's machine, a failure under `CI=true`, where `.ci/run` installs every one of them: a test
that silently skips in CI is a test nobody runs."""

from __future__ import annotations

import os
from typing import NoReturn

import pytest


def missing_os_package(reason: str) -> NoReturn:
    """Skip with `reason` (which names the install command), or fail under CI."""
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"{reason} (CI=true: .ci/run installs it, so a missing one is a failure)")
    pytest.skip(reason)
