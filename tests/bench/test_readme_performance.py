"""The README's performance section quotes bench/RESULTS.md, so it cannot go stale unnoticed."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
# A measured figure: a ratio (2.15x) or a size (538 MB); the section's other numbers are settings.
FIGURE = re.compile(r"\b\d+(?:\.\d+)?x\b|\b\d[\d,]*(?:\.\d+)? MB\b")


def performance_section(readme: str) -> str:
    start = readme.index("### Performance")
    following = re.search(r"^#{1,3} ", readme[start + 3 :], flags=re.MULTILINE)
    return readme[start : start + 3 + following.start()] if following else readme[start:]


def latest_run() -> str:
    """The generated part of RESULTS.md: the latest run (earlier rounds' notes follow it)."""
    results = (ROOT / "bench" / "RESULTS.md").read_text(encoding="utf-8")
    return results[results.index("<!-- bench:begin") : results.index("<!-- bench:end -->")]


def test_every_figure_of_the_readme_performance_section_is_from_the_latest_run():
    section = performance_section((ROOT / "README.md").read_text(encoding="utf-8"))
    results = latest_run()
    figures = FIGURE.findall(section)
    assert len(figures) >= 4  # the section does quote the run
    assert [f for f in figures if f not in results] == []
    assert "bench/RESULTS.md" in section


def test_a_stale_figure_is_caught():
    stale = "### Performance\n\nlands in 1.6x the time at a 379 MB peak (2.70x)\n## Next\n"
    figures = FIGURE.findall(performance_section(stale))
    assert [f for f in figures if f not in latest_run()] == ["1.6x", "379 MB"]  # an older round's
