"""A data directory of the previous version (Hive lake folders, snapshot trees) is refused with one
line, and `spotify-bulk migrate` commits it into Iceberg tables, keeps the archive, and removes the
old trees only after every commit succeeded."""

from __future__ import annotations

import asyncio
from datetime import UTC, date, datetime

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from pipeline.cli.main import main
from pipeline.enrichment import CATALOG_TABLES, enrich
from pipeline.enrichment.store import read_state, state_rows
from pipeline.enrichment.tables import TRACKS_DAILY, refused_path
from pipeline.errors import UsageError
from pipeline.layout import Layout
from pipeline.reports import TABLES_BY_NAME
from pipeline.storage import migrate as migration
from pipeline.storage.tables import TableLake
from pipeline.warehouse.build import build_warehouse
from pipeline.warehouse.catalog import open_catalog
from tests.kits.fake_lake import LOADED_AT, day_tables, lake_tables, read_lake

DAYS = (date(2026, 6, 1), date(2026, 6, 2))


def _old_lake(layout: Layout) -> dict[str, int]:
    """The previous version's layout: one part-0.parquet per Hive partition, plus its snapshot trees."""
    counts: dict[str, int] = {}
    for day in DAYS:
        for table, rows in day_tables("acme", day, rows=20).items():
            lineage = {"_extra": None, "_source_file": f"archive/{table}.gz", "_loaded_at": LOADED_AT}
            data = pa.Table.from_pylist([{**r, **lineage} for r in rows], schema=TABLES_BY_NAME[table].schema)
            folder = layout.lake_table(table) / "licensor=acme" / f"date={day}"
            folder.mkdir(parents=True)
            pq.write_table(data, folder / "part-0.parquet")
            counts[table] = counts.get(table, 0) + data.num_rows
    for tree in (".warehouse/snapshots/0001-x/lake", ".warehouse/mart-versions/fct", "marts/fct"):
        (layout.data_dir / tree).mkdir(parents=True)
    (layout.data_dir / ".warehouse" / "CURRENT").write_text("0001-x")
    archived = layout.archive_partition("streams", "acme", DAYS[0]) / "US.gz"
    archived.parent.mkdir(parents=True)
    archived.write_bytes(b"original")
    return counts


def test_an_old_data_directory_is_refused_then_migrated(tmp_path, monkeypatch, capsys):
    layout = Layout(tmp_path / "data")
    counts = _old_lake(layout)
    with pytest.raises(UsageError, match="run `spotify-bulk migrate` once"):
        build_warehouse(layout)

    monkeypatch.setenv("SPOTIFY_BULK_DATA_DIR", str(layout.data_dir))
    monkeypatch.chdir(tmp_path)
    assert main(["build"]) != 0  # the CLI says the same in one line
    assert "spotify-bulk migrate" in capsys.readouterr().err

    assert main(["migrate"]) == 0
    assert "Migrated 16 partition(s)" in capsys.readouterr().out
    for table, rows in counts.items():
        assert len(read_lake(layout, table)) == rows, table
        assert set(lake_tables(layout).files(table)) == {("acme", d) for d in DAYS}
    assert not [p for t in TABLES_BY_NAME for p in layout.lake_table(t).glob("licensor=*")]
    assert not (layout.data_dir / ".warehouse" / "snapshots").exists()
    assert not (layout.data_dir / "marts").exists()
    assert (layout.archive_partition("streams", "acme", DAYS[0]) / "US.gz").read_bytes() == b"original"

    assert build_warehouse(layout).passed  # the next build makes the marts from the migrated lake
    con = open_catalog(layout.warehouse_path)
    try:
        assert con.execute("SELECT count(*) FROM lake.streams").fetchone()[0] == counts["streams"]
    finally:
        con.close()
    assert main(["migrate"]) == 0 and "nothing to migrate" in capsys.readouterr().out


def test_a_failed_migration_removes_nothing(tmp_path, monkeypatch):
    layout = Layout(tmp_path / "data")
    _old_lake(layout)
    real = TableLake.replace_partition_file
    calls = []

    def fail_on_the_fifth(self, *args, **kwargs):
        calls.append(args)
        if len(calls) == 5:
            raise OSError("disk full")
        return real(self, *args, **kwargs)

    monkeypatch.setattr(TableLake, "replace_partition_file", fail_on_the_fifth)
    with pytest.raises(OSError, match="disk full"):
        migration.migrate(layout, lake_tables(layout))
    assert len(migration.legacy_partitions(layout)) == 16  # every old partition still there
    assert (layout.data_dir / ".warehouse" / "snapshots").is_dir()
    monkeypatch.setattr(TableLake, "replace_partition_file", real)
    assert migration.migrate(layout, lake_tables(layout)).partitions == 16  # the re-run completes
    assert not migration.is_legacy(layout)


FETCHED = datetime(2026, 6, 2, 9, 0, tzinfo=UTC)
TRACK_IDS = ("4uLU6hMCjMI75M1A2tKUQC", "7ouMYWpwJ422jRcDASZB7P")


def _old_catalog(layout: Layout) -> None:
    """The previous version's Web API catalog: whole Parquet files, daily and state partition folders."""
    tracks = [
        {"track_id": t, "track_name": f"song {n}", "fetched_at": FETCHED} for n, t in enumerate(TRACK_IDS)
    ]
    path = layout.lake_table("catalog_tracks") / "part-0.parquet"
    path.parent.mkdir(parents=True)
    pq.write_table(pa.Table.from_pylist(tracks, schema=CATALOG_TABLES["catalog_tracks"].schema), path)
    for day in DAYS:
        folder = layout.lake_table("catalog_tracks_daily") / f"snapshot_date={day}"
        folder.mkdir(parents=True)
        daily = [{"track_id": t, "popularity": 50 + day.day, "fetched_at": FETCHED} for t in TRACK_IDS]
        pq.write_table(pa.Table.from_pylist(daily, schema=TRACKS_DAILY.schema), folder / "part-0.parquet")
    tracks_state = layout.lake_table("catalog_state") / "kind=tracks"
    tracks_state.mkdir(parents=True)
    state = state_rows([*TRACK_IDS], True, FETCHED)
    pq.write_table(
        pa.concat_tables([state, state_rows(["0" * 22], False, FETCHED)]), tracks_state / "part-0.parquet"
    )
    refused = layout.lake_table("catalog_state") / "kind=audio_features"  # hints only: no state file
    refused.mkdir(parents=True)
    (refused / "refused.json").write_text('{"refused_at": "2026-06-02T09:00:00+00:00"}')


def test_an_old_web_api_catalog_is_refused_then_migrated_into_iceberg_tables(tmp_path, monkeypatch, capsys):
    layout = Layout(tmp_path / "data")
    _old_catalog(layout)
    assert migration.is_legacy(layout)
    with pytest.raises(UsageError, match="run `spotify-bulk migrate` once"):
        build_warehouse(layout)
    with pytest.raises(UsageError, match="catalog Parquet files under lake/"):
        asyncio.run(enrich("tracks", None, layout))  # type: ignore[arg-type]  # refused before any call

    monkeypatch.setenv("SPOTIFY_BULK_DATA_DIR", str(layout.data_dir))
    monkeypatch.chdir(tmp_path)
    assert main(["migrate"]) == 0
    assert "and 4 Web API catalog file(s), 9 rows" in capsys.readouterr().out
    assert not migration.is_legacy(layout)
    assert not list(layout.lake_root.glob("catalog_*/part-0.parquet"))
    assert not list(layout.lake_root.glob("catalog_*/*=*"))  # no old partition folder is left

    lake = lake_tables(layout)
    assert [f.name for f in lake.load("catalog_tracks_daily").spec().fields] == ["snapshot_date"]
    assert sorted(lake.read("catalog_tracks").column("track_name").to_pylist()) == ["song 0", "song 1"]
    history = lake.read("catalog_tracks_daily").to_pylist()
    assert sorted((r["snapshot_date"], r["popularity"]) for r in history) == sorted(
        (day, 50 + day.day) for day in DAYS for _ in TRACK_IDS
    )
    state = read_state(lake, "tracks")  # every id's last fetch is kept: nothing is asked again
    assert dict(zip(state.column("id").to_pylist(), state.column("found").to_pylist(), strict=True)) == {
        **dict.fromkeys(TRACK_IDS, True),
        "0" * 22: False,
    }
    assert refused_path(layout, "audio_features").is_file()  # the app's 403 is still remembered

    assert main(["migrate"]) == 0 and "nothing to migrate" in capsys.readouterr().out
    assert build_warehouse(layout).passed
    con = open_catalog(layout.warehouse_path)
    try:
        assert con.execute("SELECT count(*) FROM lake.catalog_tracks").fetchone()[0] == 2
        days = con.execute(
            "SELECT DISTINCT snapshot_date FROM lake.catalog_tracks_daily ORDER BY 1"
        ).fetchall()
        assert [d for (d,) in days] == list(DAYS)
    finally:
        con.close()
