"""`load`, `build` and `query` on an Iceberg lake in S3 (moto): a second machine reads the same lake."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pyarrow.parquet as pq

from pipeline.config import Settings, open_table_lake
from pipeline.layout import Layout
from pipeline.storage.object_store import read_with_etag
from tests.cli.test_cli_e2e import _run, cli_env  # noqa: F401 - the fixture, shared
from tests.conftest import LOADED_DAY
from tests.kits.object_store import moto_s3

SUM_SQL = "SELECT sum(streams) AS s FROM fct_daily_streams WHERE licensor = 'acme'"


def _lake_env(base: dict[str, str], store, catalog: Path, data_dir: Path) -> dict[str, str]:
    return {
        **base,
        "SPOTIFY_BULK_DATA_DIR": str(data_dir),
        "SPOTIFY_BULK_LAKE_URL": "s3://lake-e2e/spotify",
        "SPOTIFY_BULK_ARCHIVE_URL": "s3://lake-e2e/archive",
        "SPOTIFY_BULK_CATALOG_URI": f"sqlite:///{catalog}",
        "AWS_ENDPOINT_URL": store.endpoint,
        "AWS_ACCESS_KEY_ID": store.access_key_id,
        "AWS_SECRET_ACCESS_KEY": store.secret_access_key,
    }


def test_load_commits_to_iceberg_and_a_second_machine_builds_the_same_warehouse(cli_env, api_env, tmp_path):  # noqa: F811
    catalog = tmp_path / "catalog.db"
    with moto_s3() as store:
        first = _lake_env(cli_env, store, catalog, tmp_path / "machine-a")
        load = _run(
            ["load", "--licensor", "acme", "--report", "streams", "--date", LOADED_DAY.isoformat()],
            first,
            tmp_path,
        )
        assert load.returncode == 0, load.stdout + load.stderr

        settings = Settings(
            data_dir=tmp_path / "machine-a",
            lake_url="s3://lake-e2e/spotify",
            catalog_uri=f"sqlite:///{catalog}",
            object_store=store,
        )
        lake = open_table_lake(settings)
        committed = lake.read("streams", licensor="acme", day=LOADED_DAY)
        landed = pq.read_table(
            Layout(tmp_path / "machine-a").lake_partition("streams", "acme", LOADED_DAY) / "part-0.parquet"
        )
        assert committed.num_rows == landed.num_rows > 0
        manifest = (
            "s3://lake-e2e/archive/streams/licensor=acme/date=" + LOADED_DAY.isoformat() + "/_manifest.json"
        )
        assert json.loads(read_with_etag(manifest, store)[0])["objects"]  # originals also in the store
        assert committed.column("user_id").to_pylist() == landed.column("user_id").to_pylist()  # order kept

        answers = []
        for machine in ("machine-a", "machine-b"):  # machine-b has no local lake: only the Iceberg tables
            env = _lake_env(cli_env, store, catalog, tmp_path / machine)
            build = _run(["build", "--date", LOADED_DAY.isoformat()], env, tmp_path)
            assert build.returncode == 0, build.stdout + build.stderr
            assert "pinned" in build.stdout
            query = _run(["query", SUM_SQL, "--format=csv"], env, tmp_path)
            assert query.returncode == 0, query.stderr
            answers.append(query.stdout.split())
            pins = json.loads((tmp_path / machine / "lake-snapshot.json").read_text())
            assert pins["snapshots"]["streams"] == lake.snapshot_ids()["streams"]
        assert answers[0] == answers[1] == ["s", str(committed.num_rows)]
        assert "testing-secret-key" not in load.stdout + load.stderr + build.stdout + build.stderr

        # A partition gone from the snapshot leaves the cache at the next sync.
        shutil.rmtree(tmp_path / "machine-b" / "lake" / "streams")
        rebuild = _run(
            ["build", "--date", LOADED_DAY.isoformat()],
            _lake_env(cli_env, store, catalog, tmp_path / "machine-b"),
            tmp_path,
        )
        assert rebuild.returncode == 0 and "1 partitions fetched" in rebuild.stdout
