"""`load`, `build` and `query` on an Iceberg lake in S3 (moto): a second machine reads the same lake.

The same code as the local default, with another catalog URI and location: machine B has no local
copy of anything; its build reads the pinned snapshots' files from the store. Once with a SQLite
catalog file, once with PostgreSQL (scale mode), whose commit lock is an advisory lock in it.
"""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from pipeline.cli.main import main
from pipeline.config import Settings, open_table_lake
from pipeline.storage.object_store import read_with_etag
from tests.cli.test_cli_e2e import _run, cli_env  # noqa: F401 - the fixture, shared
from tests.conftest import LOADED_DAY

SUM_SQL = "SELECT sum(streams) AS s FROM fct_daily_streams WHERE licensor = 'acme'"


@pytest.fixture(params=["sqlite", "postgresql"])
def catalog_uri(request: pytest.FixtureRequest, tmp_path) -> Iterator[str]:
    """The Iceberg catalog both machines commit through (a secret for PostgreSQL: environment only)."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'catalog.db'}"
        return
    server = request.getfixturevalue("postgres_server")
    server.create_database("cli_lake_catalog")
    yield server.url("cli_lake_catalog")


def _lake_env(base: dict[str, str], store, catalog: str, data_dir) -> dict[str, str]:
    return {
        **base,
        "SPOTIFY_BULK_DATA_DIR": str(data_dir),
        "SPOTIFY_BULK_LAKE_URL": "s3://lake-e2e/spotify",
        "SPOTIFY_BULK_ARCHIVE_URL": "s3://lake-e2e/archive",
        "SPOTIFY_BULK_CATALOG_URI": catalog,
        "AWS_ENDPOINT_URL": store.endpoint,
        "AWS_ACCESS_KEY_ID": store.access_key_id,
        "AWS_SECRET_ACCESS_KEY": store.secret_access_key,
    }


def test_load_commits_to_iceberg_and_a_second_machine_builds_from_it(
    cli_env,  # noqa: F811 - the fixture imported above
    api_env,
    moto_store,
    catalog_uri,
    tmp_path,
    monkeypatch,
    capsys,
):
    """Machine A (a process) loads; machine B (this one), with no local lake, builds and queries from
    the Iceberg tables alone."""
    catalog = catalog_uri
    first = _lake_env(cli_env, moto_store, catalog, tmp_path / "machine-a")
    load = _run(
        ["load", "--licensor", "acme", "--report", "streams", "--date", LOADED_DAY.isoformat()],
        first,
        tmp_path,
    )
    assert load.returncode == 0, load.stdout + load.stderr

    settings = Settings(
        data_dir=tmp_path / "machine-a",
        lake_url="s3://lake-e2e/spotify",
        catalog_uri=catalog,
        object_store=moto_store,
    )
    lake = open_table_lake(settings)
    committed = lake.read("streams", licensor="acme", day=LOADED_DAY)
    (data_file,) = lake.partitions("streams")[("acme", LOADED_DAY)]
    assert data_file.startswith("s3://lake-e2e/spotify/streams/data/licensor=acme/")
    assert not list((tmp_path / "machine-a").rglob("*.parquet"))  # nothing of the lake kept locally
    assert committed.num_rows > 0
    manifest = (
        "s3://lake-e2e/archive/streams/licensor=acme/date=" + LOADED_DAY.isoformat() + "/_manifest.json"
    )
    assert json.loads(read_with_etag(manifest, moto_store)[0])["objects"]  # originals also in the store

    # Machine B: this process, with no local lake; its settings from the environment, as the CLI's.
    for name, value in _lake_env({}, moto_store, catalog, tmp_path / "machine-b").items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("DAGSTER_HOME", cli_env["DAGSTER_HOME"])
    capsys.readouterr()
    assert main(["build"]) == 0  # no window: the dates the pinned snapshot holds
    build = capsys.readouterr().out
    assert main(["query", SUM_SQL, "--format=csv"]) == 0
    assert capsys.readouterr().out.split() == ["s", str(committed.num_rows)]
    assert main(["query", "SELECT snapshot_ids FROM _warehouse_build", "--format=csv"]) == 0
    published = capsys.readouterr().out
    assert str(lake.snapshot_ids()["streams"]) in published  # the build pinned the committed snapshot
    assert not list((tmp_path / "machine-b").rglob("*.parquet"))  # read from the store, not copied
    assert "testing-secret-key" not in load.stdout + load.stderr + build
    password = catalog.partition("@")[0].rpartition(":")[2]
    assert catalog.startswith("sqlite") or password not in load.stdout + load.stderr + build
