"""The "reliability figures" section at the end of a run, also when xdist runs the tests in workers.

A worker's `record()` calls fill its own `OUTCOMES`; each test report carries what was recorded
during its phase (`user_properties` travel from xdist's workers to the controller), and the summary
is built from the reports, so it lists every case however many processes ran them.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Generator

import pytest

PROPERTY = "reliability_outcome"
OUTCOMES: list[tuple[str, str, str]] = []  # (suite, case, outcome) recorded in this process, not yet reported


def record(suite: str, case: str, outcome: str) -> None:
    """Note one injected fault / crash trial / hostile input and what came of it (for the summary)."""
    OUTCOMES.append((suite, case, outcome))


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    report = yield
    if OUTCOMES:
        report.user_properties.extend((PROPERTY, outcome) for outcome in OUTCOMES)
        OUTCOMES.clear()
    return report


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """The figures of the closing note: every fault, crash trial and hostile input, and its outcome."""
    grouped: dict[str, list[tuple[str, str]]] = defaultdict(list)
    for reports in terminalreporter.stats.values():
        for report in reports:
            for name, value in getattr(report, "user_properties", ()):
                if name == PROPERTY:
                    suite, case, outcome = value
                    grouped[suite].append((case, outcome))
    if not grouped:
        return
    terminalreporter.section("reliability figures")
    for suite, cases in grouped.items():
        terminalreporter.write_line(f"{suite}: {len(cases)}")
        for case, outcome in cases:
            terminalreporter.write_line(f"  {case}: {outcome}")
