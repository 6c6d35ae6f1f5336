"""The catalog's Iceberg tables: an upsert is one commit, a day's history partition is replaced
idempotently, and a pass that loses a race with another machine's merges again instead of dropping
its rows."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pyarrow as pa

from pipeline.config import Settings, open_table_lake
from pipeline.enrichment.ids import wanted_ids
from pipeline.enrichment.store import count_rows, read_table, upsert
from pipeline.enrichment.tables import CATALOG_TRACKS, TRACKS_DAILY
from pipeline.layout import Layout
from pipeline.storage.tables import TableLake
from tests.kits.fake_lake import lake_tables, metadata_version

AT = datetime(2026, 6, 15, 9, 0, tzinfo=UTC)
DAY = date(2026, 6, 15)


def _tracks(ids: range, popularity: int = 10) -> pa.Table:
    rows = [{"track_id": f"{n:022d}", "popularity": popularity, "fetched_at": AT} for n in ids]
    return pa.Table.from_pylist(rows, schema=CATALOG_TRACKS.schema)


def _commits(lake: TableLake, table: str) -> int:
    return metadata_version(lake.load(table))


def _popularity(lake: TableLake, table=CATALOG_TRACKS, day: date | None = None) -> dict[str, int]:
    rows = read_table(lake, table, day)
    return dict(zip(rows.column("track_id").to_pylist(), rows.column("popularity").to_pylist(), strict=True))


def test_an_upsert_replaces_the_fetched_ids_and_keeps_the_rest_in_one_commit(tmp_path):
    lake = lake_tables(Layout(tmp_path / "data"))
    upsert(lake, CATALOG_TRACKS, _tracks(range(10)))
    before = _commits(lake, CATALOG_TRACKS.name)
    upsert(lake, CATALOG_TRACKS, _tracks(range(5, 15), popularity=20))
    assert _commits(lake, CATALOG_TRACKS.name) == before + 1
    assert _popularity(lake) == {f"{n:022d}": 10 if n < 5 else 20 for n in range(15)}
    assert count_rows(lake, CATALOG_TRACKS) == 15


def test_a_days_history_is_its_own_partition_and_a_rerun_replaces_it(tmp_path):
    lake = lake_tables(Layout(tmp_path / "data"))
    upsert(lake, TRACKS_DAILY, _tracks(range(4)), DAY)
    upsert(lake, TRACKS_DAILY, _tracks(range(4), popularity=30), date(2026, 6, 16))
    upsert(lake, TRACKS_DAILY, _tracks(range(2, 6), popularity=40), date(2026, 6, 16))  # a later pass
    upsert(lake, TRACKS_DAILY, _tracks(range(2, 6), popularity=40), date(2026, 6, 16))  # its re-run
    assert [f.name for f in lake.load(TRACKS_DAILY.name).spec().fields] == ["snapshot_date"]
    assert _popularity(lake, TRACKS_DAILY, DAY) == {f"{n:022d}": 10 for n in range(4)}  # untouched
    assert _popularity(lake, TRACKS_DAILY, date(2026, 6, 16)) == {
        f"{n:022d}": 30 if n < 2 else 40 for n in range(6)
    }
    assert count_rows(lake, TRACKS_DAILY, date(2026, 6, 16)) == 6 and count_rows(lake, TRACKS_DAILY) == 10


def test_a_pass_that_loses_a_race_merges_again_and_keeps_the_other_pass_rows(tmp_path, monkeypatch):
    lake = lake_tables(Layout(tmp_path / "data"))
    upsert(lake, CATALOG_TRACKS, _tracks(range(3)))
    real, calls = TableLake.replace_rows, []

    def another_machine_commits_first(self, *args, **kwargs):
        calls.append(kwargs["based_on"])
        if len(calls) == 1:  # between this pass's read and its commit
            monkeypatch.setattr(TableLake, "replace_rows", real)
            upsert(lake, CATALOG_TRACKS, _tracks(range(100, 103), popularity=50))
            monkeypatch.setattr(TableLake, "replace_rows", another_machine_commits_first)
        return real(self, *args, **kwargs)

    monkeypatch.setattr(TableLake, "replace_rows", another_machine_commits_first)
    upsert(lake, CATALOG_TRACKS, _tracks(range(2, 5), popularity=20))
    assert len(calls) == 2 and calls[0] != calls[1]  # refused on the stale read, then merged again
    assert _popularity(lake) == {
        **{f"{n:022d}": 10 for n in range(2)},
        **{f"{n:022d}": 20 for n in range(2, 5)},
        **{f"{n:022d}": 50 for n in range(100, 103)},
    }


def test_on_object_storage_the_same_code_writes_and_reads_the_catalog(tmp_path, moto_store):
    """With the lake on S3 the catalog tables are there too, and the ids the next kinds want are
    read from their data files on S3 (no local file involved)."""
    settings = Settings(data_dir=tmp_path / "data", lake_url="s3://catalog/lake", object_store=moto_store)
    lake = open_table_lake(settings)
    album = "1" * 22
    tracks = _tracks(range(3)).set_column(
        CATALOG_TRACKS.schema.get_field_index("album_id"), "album_id", pa.array([album] * 3)
    )
    upsert(lake, CATALOG_TRACKS, tracks)
    upsert(lake, TRACKS_DAILY, tracks, DAY)
    files = [f for found in lake.files(CATALOG_TRACKS.name).values() for f in found]
    assert files and all(f.startswith("s3://catalog/lake/catalog_tracks/") for f in files)
    assert wanted_ids("albums", lake).ids == {album}
    assert count_rows(lake, TRACKS_DAILY, DAY) == 3
