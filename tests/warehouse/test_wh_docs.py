"""docs/data-model.md documents every mart: its grain, key, and every column it has."""

from __future__ import annotations

import re
from pathlib import Path

from pipeline.layout import Layout
from pipeline.warehouse.models import SQL_ROOT, discover_models
from pipeline.warehouse.paths import WarehousePaths
from pipeline.warehouse.pinned import Pinned
from pipeline.warehouse.session import Session

DOC = SQL_ROOT.parent / "docs" / "data-model.md"


def _sections(text: str) -> dict[str, str]:
    parts = re.split(r"^### (\w+)\s*$", text, flags=re.MULTILINE)
    return {parts[i]: parts[i + 1] for i in range(1, len(parts) - 1, 2)}


def _columns(tmp_path: Path) -> dict:
    paths = WarehousePaths(Layout(tmp_path))
    with Session(paths, discover_models(), Pinned(paths, {}), SQL_ROOT) as session:  # no data needed
        return dict(session.columns)


def _problems(text: str, columns: dict) -> list[str]:
    models = discover_models()
    sections = _sections(text)
    problems = []
    for model in (m for m in models if m.materialized):
        section = sections.get(model.name)
        if section is None:
            problems.append(f"{model.name}: no '### {model.name}' section")
            continue
        documented = re.findall(r"^\| `(\w+)` \|", section, flags=re.MULTILINE)
        actual = [name for name, _ in columns[model.name]]
        problems += [f"{model.name}.{c}: undocumented" for c in actual if c not in documented]
        problems += [f"{model.name}.{c}: documented but not produced" for c in documented if c not in actual]
        key = ", ".join(model.key)
        if f"Key: `{key}`" not in section:
            problems.append(f"{model.name}: key `{key}` not stated")
    return problems


def test_every_mart_column_is_documented(tmp_path: Path):
    assert _problems(DOC.read_text(encoding="utf-8"), _columns(tmp_path)) == []


def test_an_undocumented_column_is_caught(tmp_path: Path):
    text = DOC.read_text(encoding="utf-8").replace("| `streams_28d` |", "| streams_28d |")
    assert _problems(text, _columns(tmp_path)) == ["fct_track_performance.streams_28d: undocumented"]
