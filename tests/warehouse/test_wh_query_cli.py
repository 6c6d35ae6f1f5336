"""`spotify-bulk query` / `build`: read-only enforcement, formats, and the demo's top-tracks table."""

from __future__ import annotations

import argparse
import json
import re
from datetime import date
from decimal import Decimal

import pytest

from pipeline.cli import build as build_command
from pipeline.cli import query as query_command
from pipeline.config import Settings
from pipeline.errors import UsageError
from pipeline.layout import Layout
from pipeline.warehouse.build import BuildResult
from pipeline.warehouse.query import ReadOnlyError, check_read_only, run_query, top_tracks_table
from tests.kits.settings import runs_in


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="spotify-bulk")
    sub = parser.add_subparsers(dest="command", required=True)
    build_command.add_parser(sub)
    query_command.add_parser(sub)
    return parser


@pytest.fixture
def data_env(layout: Layout) -> Layout:
    return layout


def cmd_query(args: argparse.Namespace, layout: Layout) -> int:
    return query_command.run(args, Settings(data_dir=layout.data_dir))


def cmd_build(args: argparse.Namespace, layout: Layout) -> int:
    """`spotify-bulk build`: a warehouse_job run on a Dagster instance of its own, next to the data."""
    home = layout.data_dir.parent / "dagster_home"
    return build_command.run(args, Settings(data_dir=layout.data_dir, dagster_home=home))


def _comparable(printed: str, catalog: object) -> list[str]:
    """The printout without what differs between two equal builds: timings, snapshot, catalog path."""
    printed = printed.replace(str(catalog), "CATALOG")
    printed = re.sub(r"@\d+", "@ID", printed)  # snapshot ids: each data directory's own
    return re.sub(r"[\d.]+ s\b", "T s", printed).splitlines()


@pytest.mark.parametrize(
    "sql",
    [
        "DROP VIEW fct_daily_streams",
        "CREATE TABLE x AS SELECT 1",
        "INSERT INTO _warehouse_build VALUES (1, 2, 3, 4)",
        "SELECT 1; DELETE FROM _warehouse_models",
        "COPY (SELECT 1) TO '/tmp/out.csv'",
        "ATTACH 'other.duckdb'",
        "SET threads = 1",
        "INSTALL httpfs",
        "PRAGMA enable_profiling",
    ],
)
def test_writes_and_side_effects_are_refused(sql: str):
    with pytest.raises(ReadOnlyError, match="read-only"):
        check_read_only(sql)


@pytest.mark.parametrize(
    "sql",
    [
        "SELECT 1",
        "WITH a AS (SELECT 1) SELECT * FROM a",
        "DESCRIBE dim_date",
        "SHOW TABLES",
        "EXPLAIN SELECT 1",
    ],
)
def test_reads_are_allowed(sql: str):
    check_read_only(sql)


def test_query_command_formats(data_env: Layout, built: BuildResult, capsys: pytest.CaptureFixture[str]):
    parser = _parser()
    sql = "SELECT licensor, sum(streams) AS streams, 0.5 AS half FROM fct_daily_streams GROUP BY 1 ORDER BY 1"
    assert cmd_query(parser.parse_args(["query", sql]), data_env) == 0
    table = capsys.readouterr().out.splitlines()
    assert table[0].split() == ["licensor", "streams", "half"]
    assert table[2].split() == ["acme", "300", "0.5"] and table[-1] == "(2 rows)"
    assert cmd_query(parser.parse_args(["query", sql, "--format", "csv"]), data_env) == 0
    assert capsys.readouterr().out.splitlines() == ["licensor,streams,half", "acme,300,0.5", "globex,300,0.5"]
    assert cmd_query(parser.parse_args(["query", sql, "--format", "json"]), data_env) == 0
    assert json.loads(capsys.readouterr().out) == [
        {"licensor": "acme", "streams": 300, "half": 0.5},
        {"licensor": "globex", "streams": 300, "half": 0.5},
    ]
    big = run_query(data_env, "SELECT 1234567 AS n, DATE '2026-06-01' AS d")
    from pipeline.warehouse.query import format_table

    assert "1,234,567" in format_table(big) and "2026-06-01" in format_table(big)


def test_query_errors_are_usage_errors(data_env: Layout, built: BuildResult):
    parser = _parser()
    with pytest.raises(UsageError, match="read-only"):
        cmd_query(parser.parse_args(["query", "DELETE FROM dim_country"]), data_env)
    with pytest.raises(UsageError, match=r"does not exist|not found"):
        cmd_query(parser.parse_args(["query", "SELECT * FROM no_such_mart"]), data_env)


def test_query_without_a_warehouse_says_to_build(data_env: Layout):
    with pytest.raises(UsageError, match="spotify-bulk build"):
        cmd_query(_parser().parse_args(["query", "SELECT 1"]), data_env)


def test_build_command(data_env: Layout, lake_days: list[date], capsys: pytest.CaptureFixture[str]):
    parser = _parser()
    assert (
        cmd_build(parser.parse_args(["build", "--start", "2026-06-02", "--end", "2026-06-03"]), data_env) == 0
    )
    out = capsys.readouterr().out
    assert "2026-06-02..2026-06-03" in out and "fct_daily_streams" in out and "Published" in out
    assert cmd_build(parser.parse_args(["build", "--full-refresh"]), data_env) == 0
    assert "2026-06-01..2026-06-05" in capsys.readouterr().out
    runs = runs_in(data_env.data_dir.parent / "dagster_home", job_name="warehouse_job")  # newest first
    assert [r.tags.get("spotify/full_refresh") for r in runs] == ["true", None]
    with pytest.raises(UsageError, match="full-refresh"):
        cmd_build(parser.parse_args(["build", "--full-refresh", "--start", "3"]), data_env)
    with pytest.raises(UsageError, match="not understood"):
        cmd_build(parser.parse_args(["build", "--start", "soon"]), data_env)
    assert parser.parse_args(["build", "--period", "last-7-days"]).period == "last-7-days"


def test_the_build_command_prints_what_the_library_build_prints(
    data_env: Layout,
    lake_days: list[date],
    template: tuple[object, BuildResult],
    capsys: pytest.CaptureFixture[str],
):
    """Through Dagster (one warehouse_job run) or not, a first build over every date prints alike."""
    _source, library = template
    build_command.print_build(library)
    expected = _comparable(capsys.readouterr().out, library.catalog)
    assert cmd_build(_parser().parse_args(["build"]), data_env) == 0
    printed = _comparable(capsys.readouterr().out, data_env.warehouse_path)
    home = data_env.data_dir.parent / "dagster_home"
    assert printed[:-1] == expected and len(printed) > 10
    assert printed[-1].endswith(f"DAGSTER_HOME={home} uv run dagster dev")  # how to see the run
    runs = runs_in(home, job_name="warehouse_job", tags={"spotify/launched_by": "cli"})
    assert len(runs) == 1 and runs[0].is_success
    assert runs[0].tags["dagster/asset_partition_range_start"] == "2026-06-01"


def test_top_tracks_table(layout: Layout, built: BuildResult):
    text = top_tracks_table(layout, limit=3)
    lines = text.splitlines()
    assert lines[0] == "Top 3 tracks by streams, 2026-06-01..2026-06-05 (fct_track_performance)"
    assert lines[1].split()[:4] == ["rank", "licensor", "track", "artists"]
    assert lines[3].split()[:2] == ["1", "globex"] and "Globex Song 0" in lines[3]
    assert lines[-1] == "(3 rows)"
    assert lines[1].split()[-3:] == ["sub30_share", "skip_rate", "save_rate"]
    for rate in lines[3].split()[-3:]:
        assert re.fullmatch(r"\d{1,3}\.\d%", rate), lines[3]


def test_rates_print_as_percentages_in_tables_only():
    from pipeline.warehouse.query import QueryResult, format_result

    result = QueryResult(
        ("track", "streams", "skip_rate", "sub30_share", "share", "streams_dod_change_pct", "ratio"),
        [
            ("a", 10, 0.09254, Decimal("0.5"), 1.0, -0.125, 0.0925),
            ("b", 3, None, 0.0, float("nan"), 0.0, 1.0),
        ],
    )
    lines = format_result(result, "table").splitlines()
    assert lines[2].split() == ["a", "10", "9.3%", "50.0%", "100.0%", "-12.5%", "0.0925"]
    assert lines[3].split() == ["b", "3", "0.0%", "NaN", "0.0%", "1"]  # null prints empty
    assert lines[0].index("skip_rate") + len("skip_rate") == lines[2].index("9.3%") + len(
        "9.3%"
    )  # right-aligned
    assert format_result(result, "csv").splitlines()[1] == "a,10,0.09254,0.5,1.0,-0.125,0.0925"
