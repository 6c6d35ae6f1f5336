"""The published catalog as analysts' own tools meet it: an older DuckDB CLI, a moved data directory.

The DuckDB 1.5 CLI comes from PyPI (`duckdb-cli`), installed once into a cache directory outside the
repository, so later runs work offline.
"""

from __future__ import annotations

import csv
import io
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from pipeline.layout import Layout
from pipeline.warehouse.build import BuildResult
from pipeline.warehouse.catalog import open_catalog
from pipeline.warehouse.query import run_query
from pipeline.warehouse.quoting import quote_identifier, quote_literal
from tests.kits.warehouse import MARTS

OLD_CLI = "1.5.6"  # the newest 1.x: its storage reader stops at 1.5's format (version 68)


@pytest.fixture(scope="session")
def old_duckdb_cli() -> Path:
    """The DuckDB 1.5 CLI binary, from a venv kept in the user's cache directory."""
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    venv = cache / "spotify-bulk-etl" / f"duckdb-cli-{OLD_CLI}"
    binary = venv / "bin" / "duckdb"
    if not binary.exists():
        uv = shutil.which("uv")
        assert uv, "uv is needed to install the DuckDB CLI"
        subprocess.run([uv, "venv", "-q", "--clear", str(venv)], check=True)
        subprocess.run(
            [uv, "pip", "install", "-q", "--python", str(venv), f"duckdb-cli=={OLD_CLI}"], check=True
        )
    return binary


def _views(data_dir: Path) -> list[str]:
    """Every view of the catalog, schema-qualified and quoted."""
    con = open_catalog(data_dir / "warehouse.duckdb")
    try:
        rows = con.execute("SELECT schema_name, view_name FROM duckdb_views() WHERE NOT internal").fetchall()
    finally:
        con.close()
    return [_view(view, schema) for schema, view in rows]


def _view(name: str, schema: str = "main") -> str:
    return f"{quote_identifier(schema)}.{quote_identifier(name)}"


def _counting_sql(views: list[str]) -> str:
    return " UNION ALL ".join(f"SELECT {quote_literal(v)}, count(*) FROM {v}" for v in views)


def _counts(data_dir: Path, views: list[str]) -> dict[str, int]:
    """Row counts of `views` as this project's DuckDB (2.x) reads them."""
    con = open_catalog(data_dir / "warehouse.duckdb")
    try:
        return dict(con.execute(_counting_sql(views)).fetchall())
    finally:
        con.close()


def _counts_via_cli(cli: Path, data_dir: Path, views: list[str]) -> dict[str, int]:
    """The same through the old CLI, started from the data directory as the README says."""
    out = subprocess.run(
        [str(cli), "-readonly", "-csv", "-noheader", "warehouse.duckdb", "-c", _counting_sql(views)],
        cwd=data_dir,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr
    return {name: int(count) for name, count in csv.reader(io.StringIO(out.stdout))}


def test_duckdb_1_5_cli_reads_the_catalog(old_duckdb_cli: Path, layout: Layout, built: BuildResult):
    version = subprocess.run([str(old_duckdb_cli), "-version"], capture_output=True, text=True, check=True)
    assert version.stdout.startswith(f"v{OLD_CLI}")
    views = _views(layout.data_dir)
    assert {_view(m.name) for m in MARTS} < set(views) and _view("streams", "lake") in views
    expected = _counts(layout.data_dir, views)
    assert expected[_view("fct_daily_streams")] > 0 and expected[_view("streams", "lake")] > 0
    assert _counts_via_cli(old_duckdb_cli, layout.data_dir, views) == expected


def test_a_moved_data_directory_still_answers(
    old_duckdb_cli: Path, layout: Layout, built: BuildResult, tmp_path: Path
):
    sql = "SELECT count(*), sum(streams) FROM fct_daily_streams"
    before = run_query(layout, sql).rows
    moved = Layout(tmp_path / "mounted" / "elsewhere")
    moved.data_dir.parent.mkdir(parents=True)
    shutil.move(layout.data_dir, moved.data_dir)
    assert not layout.data_dir.exists()
    assert run_query(moved, sql).rows == before  # from this process's working directory, not the data's
    views = _views(moved.data_dir)
    assert _counts_via_cli(old_duckdb_cli, moved.data_dir, views) == _counts(moved.data_dir, views)
