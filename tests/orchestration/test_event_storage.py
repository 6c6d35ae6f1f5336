"""The CLI's instance keeps Dagster's SQLite files and schema, through an event log kept open."""

from pathlib import Path

import dagster as dg
from dagster._core.instance.ref import InstanceRef

from pipeline.config import Settings
from pipeline.orchestration import event_storage
from pipeline.orchestration.event_storage import PooledSqliteEventLogStorage, pooled_storage
from pipeline.orchestration.instance import open_instance


@dg.asset
def answer() -> dg.MaterializeResult:
    return dg.MaterializeResult(metadata={"value": 42})


def _materialize(instance: dg.DagsterInstance) -> str:
    result = dg.materialize([answer], instance=instance)
    assert result.success
    return result.run_id


def test_a_home_without_dagster_yaml_gets_the_pooled_event_log_in_dagsters_default_place(tmp_path: Path):
    home = tmp_path / "home"
    instance = open_instance(Settings(data_dir=tmp_path / "data", dagster_home=home))
    assert isinstance(instance.event_log_storage, PooledSqliteEventLogStorage)
    run_id = _materialize(instance)
    instance.dispose()
    assert (home / "history" / "runs" / f"{run_id}.db").is_file()  # where the stock storage keeps it
    stock = dg.DagsterInstance.from_ref(InstanceRef.from_dir(str(home)))  # e.g. `dagster dev`
    assert type(stock.event_log_storage).__name__ == "SqliteEventLogStorage"
    assert stock.get_latest_materialization_event(dg.AssetKey("answer")).run_id == run_id
    events = stock.all_logs(run_id)
    assert any(e.dagster_event and e.dagster_event.event_type_value == "PIPELINE_SUCCESS" for e in events)
    stock.dispose()


def test_the_yaml_sqlite_directory_is_kept_and_other_storage_left_alone(tmp_path: Path):
    home = tmp_path / "home"
    home.mkdir()
    (home / "dagster.yaml").write_text(f"storage:\n  sqlite:\n    base_dir: {tmp_path / 'elsewhere'}\n")
    instance = open_instance(Settings(data_dir=tmp_path / "data", dagster_home=home))
    assert isinstance(instance.event_log_storage, PooledSqliteEventLogStorage)
    run_id = _materialize(instance)
    instance.dispose()
    assert (tmp_path / "elsewhere" / "history" / "runs" / f"{run_id}.db").is_file()
    assert pooled_storage({"postgres": {"postgres_url": "postgresql://x"}}, str(home)) is None


def test_many_runs_keep_a_bounded_number_of_databases_open(tmp_path: Path, monkeypatch):
    monkeypatch.setattr(event_storage, "MAX_OPEN_DATABASES", 2)
    instance = open_instance(Settings(data_dir=tmp_path / "data", dagster_home=tmp_path / "home"))
    storage = instance.event_log_storage
    assert isinstance(storage, PooledSqliteEventLogStorage)
    run_ids = [_materialize(instance) for _ in range(3)]
    assert len(storage._engines) == 2  # the oldest run's engine was disposed...
    assert all(instance.all_logs(r) for r in run_ids)  # ...and reopens when its events are read
    storage.wipe()  # disposes the open engines before deleting the files
    assert set(storage._engines) <= {"index"} and not any(instance.all_logs(r) for r in run_ids)
    instance.dispose()
