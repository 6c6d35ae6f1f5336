from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest

from pipeline.layout import Layout
from tests.kits.ndjson import write_lines, write_records

DAY = date(2026, 11, 20)
LICENSOR = "acme"
LOADED_AT = datetime(2026, 11, 22, 3, 4, 5, 678901, tzinfo=UTC)


@pytest.fixture
def layout(tmp_path: Path) -> Layout:
    return Layout(tmp_path / "data")


@pytest.fixture
def archive(layout: Layout) -> Callable[..., Path]:
    """Write records (dicts) or raw lines (str/bytes) as a gzip file in the archive layout."""

    def make(report: str, name: str, items: Iterable[Any], *, raw: bool = False) -> Path:
        path = layout.archive_partition(report, LICENSOR, DAY) / name
        return write_lines(path, items) if raw else write_records(path, items)

    return make
