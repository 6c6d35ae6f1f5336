"""The scale-out settings: read once from the environment, secrets never shown."""

from __future__ import annotations

import pytest

from pipeline.config import settings_from
from pipeline.errors import UsageError
from pipeline.orchestration.resources import lake_resource
from pipeline.storage.object_store import StoreUrl, fileio_properties


def test_lake_archive_and_store_settings_come_from_the_standard_variables():
    settings = settings_from(
        {
            "SPOTIFY_BULK_LAKE_URL": "s3://lake-bucket/prefix/",
            "SPOTIFY_BULK_ARCHIVE_URL": "s3://lake-bucket/archive",
            "SPOTIFY_BULK_CATALOG_URI": "postgresql+psycopg2://dagster@db/dagster",
            "AWS_ENDPOINT_URL": "http://127.0.0.1:8333",
            "AWS_REGION": "eu-north-1",
            "AWS_ACCESS_KEY_ID": "key-id",
            "AWS_SECRET_ACCESS_KEY": "very-secret-value",
            "SPOTIFY_BULK_EXECUTOR": "celery",
            "SPOTIFY_BULK_CELERY_BROKER": "redis://127.0.0.1:6380/0",
        }
    )
    assert settings.table_lake and settings.lake_url == "s3://lake-bucket/prefix"
    assert settings.iceberg_catalog_uri == "postgresql+psycopg2://dagster@db/dagster"
    assert settings.object_store.region == "eu-north-1"
    assert settings.executor == "celery" and settings.celery_broker.endswith(":6380/0")
    assert "very-secret-value" not in repr(settings)
    # The Dagster resource carries where things are, never the store's credentials.
    assert "very-secret-value" not in repr(lake_resource(settings).model_dump())
    props = fileio_properties(settings.object_store)
    assert props["s3.endpoint"] == "http://127.0.0.1:8333" and props["s3.request-timeout"] == "30.0"


def test_the_local_lake_stays_the_default():
    settings = settings_from({})
    assert not settings.table_lake and settings.executor == "in_process"
    assert settings.iceberg_catalog_uri.startswith("sqlite:///")


def test_bad_values_are_clear_errors():
    with pytest.raises(UsageError, match="SPOTIFY_BULK_EXECUTOR"):
        settings_from({"SPOTIFY_BULK_EXECUTOR": "threads"})
    with pytest.raises(ValueError, match="names no bucket"):
        StoreUrl.parse("s3:///prefix")
    with pytest.raises(ValueError, match="only s3://"):
        StoreUrl.parse("gs://bucket/prefix")
