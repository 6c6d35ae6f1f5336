"""Each data directory has its own Dagster instance: runs of two lakes never share an asset catalog."""

from __future__ import annotations

import shutil
from pathlib import Path

import dagster as dg
import yaml

from pipeline.config import Settings
from pipeline.orchestration.instance import API_POOL, dagster_home, instance_config, open_instance

ROOT = Path(__file__).resolve().parents[2]


@dg.asset
def answer() -> dg.MaterializeResult:
    return dg.MaterializeResult(metadata={"value": 42})


def _materialize(settings: Settings) -> str:
    instance = open_instance(settings)
    try:
        result = dg.materialize([answer], instance=instance)
        assert result.success
        return result.run_id
    finally:
        instance.dispose()


def _run_ids(home: Path) -> set[str]:
    instance = dg.DagsterInstance.from_config(str(home))  # as `dagster dev` with DAGSTER_HOME=home
    try:
        return {run.run_id for run in instance.get_runs()}
    finally:
        instance.dispose()


def test_two_data_directories_have_two_instances_and_share_no_run(tmp_path: Path):
    first, second = Settings(data_dir=tmp_path / "one"), Settings(data_dir=tmp_path / "two")
    one, two = _materialize(first), _materialize(second)
    assert dagster_home(first) == (tmp_path / "one" / ".dagster").resolve()
    assert _run_ids(dagster_home(first)) == {one}
    assert _run_ids(dagster_home(second)) == {two}
    assert (tmp_path / "one" / ".dagster" / "storage").is_dir()  # the runs live with the data


def test_the_instance_uses_dagsters_stock_sqlite_storage_and_the_api_pool(tmp_path: Path):
    instance = open_instance(Settings(data_dir=tmp_path / "data", api_pool_limit=3))
    try:
        assert type(instance.event_log_storage).__name__ == "SqliteEventLogStorage"
        assert type(instance.event_log_storage).__module__.startswith("dagster.")
        assert instance.event_log_storage.get_concurrency_info(API_POOL).slot_count == 3
    finally:
        instance.dispose()


def test_an_explicit_dagster_home_wins(tmp_path: Path):
    home = tmp_path / "home"
    settings = Settings(data_dir=tmp_path / "data", dagster_home=home)
    run_id = _materialize(settings)
    assert dagster_home(settings) == home
    assert _run_ids(home) == {run_id}
    assert not (tmp_path / "data" / ".dagster").exists()


def test_a_moved_data_directory_gets_its_config_rewritten(tmp_path: Path):
    before = Settings(data_dir=tmp_path / "before")
    run_id = _materialize(before)
    shutil.move(tmp_path / "before", tmp_path / "after")
    after = Settings(data_dir=tmp_path / "after")
    home = dagster_home(after)
    assert yaml.safe_load((home / "dagster.yaml").read_text()) == instance_config(home)
    assert _run_ids(home) == {run_id}  # the same runs, found where the data now is


def test_the_projects_dagster_yaml_is_the_default_data_directorys_config():
    """`uv run dagster dev` from the project directory reads ./dagster.yaml: it must be the instance
    the CLI renders for the default data directory (./data), or the UI shows other runs."""
    assert yaml.safe_load((ROOT / "dagster.yaml").read_text()) == instance_config(Path("data/.dagster"))
    assert Settings().data_dir == Path("./data")


def test_an_explicit_home_without_config_keeps_dagsters_layout_with_telemetry_off(tmp_path: Path):
    home = tmp_path / "home"
    run_id = _materialize(Settings(data_dir=tmp_path / "data", dagster_home=home))
    assert yaml.safe_load((home / "dagster.yaml").read_text()) == {"telemetry": {"enabled": False}}
    assert (home / "history" / "runs" / f"{run_id}.db").is_file()  # where the stock storage keeps it
