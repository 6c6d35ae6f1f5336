"""Every warehouse process is bounded: DuckDB's memory limit and threads come from the settings,
reach builds, Dagster steps and read-only connections, and a build under a small limit spills
instead of failing, with the same results as an unlimited one."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest

from pipeline.config import Settings, default_duckdb_memory_limit, default_duckdb_threads, settings_from
from pipeline.errors import UsageError
from pipeline.layout import Layout
from pipeline.orchestration.resources import lake_resource
from pipeline.warehouse.build import build_warehouse
from pipeline.warehouse.catalog import open_catalog
from pipeline.warehouse.options import WarehouseOptions
from pipeline.warehouse.query import connect_readonly
from pipeline.warehouse.session import Session
from tests.kits import bench_lakes
from tests.kits.warehouse import file_hashes, mart_fingerprints


def _setting(con: duckdb.DuckDBPyConnection, name: str) -> str:
    row = con.execute(f"SELECT current_setting('{name}')").fetchone()
    return str(row[0]) if row else ""


def test_limits_come_from_the_environment_with_machine_sized_defaults():
    default = settings_from({})
    assert default.duckdb_memory_limit == default_duckdb_memory_limit()
    megabytes = int(default.duckdb_memory_limit.removesuffix("MB"))
    assert 256 <= megabytes <= 512
    assert 1 <= default.duckdb_threads == default_duckdb_threads() <= 4
    env = {"SPOTIFY_BULK_DUCKDB_MEMORY_LIMIT": "300MB", "SPOTIFY_BULK_DUCKDB_THREADS": "1"}
    settings = settings_from(env)
    assert (settings.duckdb_memory_limit, settings.duckdb_threads) == ("300MB", 1)
    options = WarehouseOptions.from_settings(settings)
    assert (options.memory_limit, options.threads) == ("300MB", 1)
    resource = lake_resource(settings)
    assert resource.warehouse_options() == options  # Dagster's steps get the same bounds
    with pytest.raises(UsageError, match="SPOTIFY_BULK_DUCKDB_THREADS"):
        settings_from({"SPOTIFY_BULK_DUCKDB_THREADS": "many"})
    with pytest.raises(UsageError, match="SPOTIFY_BULK_DUCKDB_THREADS"):
        Settings(duckdb_threads=-1)


def test_read_only_connections_are_bounded(layout: Layout, built):
    options = WarehouseOptions(memory_limit="300MB", threads=1)
    for con in (connect_readonly(layout, options), open_catalog(layout.warehouse_path, options)):
        try:
            assert _setting(con, "threads") == "1"
            assert _setting(con, "memory_limit") in ("286.1 MiB", "300.0 MB", "286.1MiB", "300.0MB")
            assert con.execute("SELECT count(*) FROM fct_track_performance").fetchone()[0] > 0
        finally:
            con.close()


def test_a_build_under_a_small_memory_limit_spills_and_equals_an_unlimited_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    """Three days of 20k streams per licensor under a 72 MB limit and one thread: below what the
    marts' sorts and aggregations hold, so DuckDB spills to the session's temp directory; the marts
    equal an unlimited build's, byte for byte."""
    small, free = Layout(tmp_path / "small"), Layout(tmp_path / "free")
    bench_lakes.generate(free, 3, 20_000)
    bench_lakes.copy_days(free, small, 3)
    limits: list[tuple[str, str]] = []
    spilled: list[int] = []
    close = Session.close

    def noting_close(self: Session) -> None:  # the limit each build connection ran under, its spill
        limits.append((_setting(self.con, "memory_limit"), _setting(self.con, "threads")))
        row = self.con.execute("SELECT count(*), coalesce(sum(size), 0) FROM duckdb_temporary_files()")
        spilled.append(int(row.fetchone()[1]))
        close(self)

    monkeypatch.setattr(Session, "close", noting_close)
    result = build_warehouse(small, options=WarehouseOptions(memory_limit="72MB", threads=1))
    assert result.passed, result.failed_checks
    assert limits and all(limit.startswith(("68.6", "72.0")) and threads == "1" for limit, threads in limits)
    assert sum(spilled) > 0  # blocks went to the temp directory
    limits.clear()
    assert build_warehouse(free, options=WarehouseOptions()).passed  # DuckDB's own defaults
    assert limits and not any(limit.startswith(("68.6", "72.0")) for limit, _ in limits)
    assert mart_fingerprints(small) == mart_fingerprints(free)
    assert file_hashes(small) == file_hashes(free)
