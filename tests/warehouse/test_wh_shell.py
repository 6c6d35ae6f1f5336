"""`spotify-bulk sql`: the read-only prompt, driven through streams (no TTY)."""

from __future__ import annotations

import io
import subprocess
import sys

import pytest

from pipeline.errors import UsageError
from pipeline.layout import Layout
from pipeline.warehouse.build import BuildResult
from pipeline.warehouse.shell import PROMPT, run_shell


def _run(layout: Layout, text: str, *, interactive: bool = False) -> tuple[int, str]:
    out = io.StringIO()
    failures = run_shell(layout, io.StringIO(text), out, interactive=interactive)
    return failures, out.getvalue()


def test_statements_span_lines_and_print_as_query_tables(layout: Layout, built: BuildResult):
    script = (
        "SELECT licensor, sum(streams) AS streams\n  FROM fct_daily_streams\n GROUP BY 1 ORDER BY 1;\n"
        "\nSELECT 0.25 AS skip_rate; SELECT 2 AS two;\n"
        ".quit\nSELECT 'never run';\n"
    )
    failures, out = _run(layout, script)
    lines = out.splitlines()
    assert failures == 0
    assert lines[0].split() == ["licensor", "streams"] and lines[2].split() == ["acme", "300"]
    assert lines[4] == "(2 rows)"
    assert lines[5:] == ["skip_rate", "---------", "    25.0%", "(1 row)", "two", "---", "  2", "(1 row)"]
    assert "never run" not in out


def test_writes_are_refused_and_the_prompt_goes_on(layout: Layout, built: BuildResult):
    failures, out = _run(
        layout, "DROP VIEW fct_daily_streams;\nSELECT count(*) AS n FROM fct_daily_streams;\n"
    )
    assert failures == 1
    assert out.startswith("error: refused: the warehouse is read-only")
    assert "(1 row)" in out
    failures, out = _run(layout, "SELECT * FROM no_such_mart;\n")
    assert failures == 1 and out.startswith("error:") and "no_such_mart" in out


def test_eof_leaves_and_drops_an_unfinished_statement(layout: Layout, built: BuildResult):
    failures, out = _run(layout, "SELECT 1 AS one\n", interactive=True)
    assert failures == 0 and "one" not in out.split(PROMPT, 1)[1]
    assert out.count(PROMPT) == 1 and "Read-only SQL over" in out and out.endswith("\n")


def test_the_sql_command(layout: Layout, built: BuildResult, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("SPOTIFY_BULK_DATA_DIR", str(layout.data_dir))
    proc = subprocess.run(
        [sys.executable, "-m", "pipeline.cli", "sql"],
        input="SELECT count(*) AS n FROM dim_date;\nDELETE FROM dim_date;\n",
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 1, proc.stderr  # a piped script with a failed statement
    assert "(1 row)" in proc.stdout and "refused" in proc.stdout


def test_the_sql_command_without_a_warehouse(layout: Layout, monkeypatch: pytest.MonkeyPatch):
    from pipeline.cli import sql
    from pipeline.config import Settings

    with pytest.raises(UsageError, match="spotify-bulk build"):
        sql.run(None, Settings(data_dir=layout.data_dir))  # type: ignore[arg-type]
