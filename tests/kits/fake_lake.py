"""A tiny, internally consistent lake written with the declared schemas, for warehouse tests.

Aggregated counts are derived from the stream rows and the users' demographics, exactly as the
Bulk API promises; tests compute expected mart numbers from the Parquet files, not from the SQL.
"""

from __future__ import annotations

import random
import shutil
import string
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
from pyiceberg.expressions import AlwaysTrue, BooleanExpression
from pyiceberg.table import Table

from pipeline.layout import Layout
from pipeline.reports import TABLES_BY_NAME
from pipeline.storage.partition_columns import with_partition_columns
from pipeline.storage.tables import TableLake, partition_filter

LICENSORS = ("acme", "globex")
FIRST_DAY = date(2026, 6, 1)
COUNTRIES = ("US", "SE", "BR", "DE")
SOURCES = (
    "album", "artist", "collection", "others_playlist", "own_playlist", "chart", "radio", "search",
    "play_queue", "unknown",
)  # fmt: skip
GENDERS = ("female", "male", "non_binary", "unknown")
PRODUCTS = ("free", "premium", "family", "student")
LOADED_AT = datetime(2026, 6, 20, tzinfo=UTC)


def _b62(rng: random.Random) -> str:
    return "".join(rng.choice(string.ascii_letters + string.digits) for _ in range(22))


def age_group(birth_year: int | None, day: date) -> str:
    if birth_year is None:
        return "unknown"
    age = day.year - birth_year
    for limit, label in (
        (17, "0-17"),
        (22, "18-22"),
        (27, "23-27"),
        (34, "28-34"),
        (44, "35-44"),
        (59, "45-59"),
    ):
        if age <= limit:
            return label
    return "60-150"


def _catalog(licensor: str) -> tuple[list[dict], list[dict], list[str]]:
    rng = random.Random(licensor)
    tracks = [
        {
            "track_id": (tid := _b62(rng)),
            "track_uri": f"spotify:track:{tid}",
            "isrc": f"US{licensor[:3].upper()}{i:07d}",
            "track_name": f"{licensor.title()} Song {i}",
            "artist_names": [f"Artist {i % 3}", "Guest"] if i % 2 else [f"Artist {i % 3}"],
            "album_name": f"Album {i % 2}",
            "album_uri": f"spotify:album:{licensor}{i % 2}",
            "upc": f"00{i:010d}",
            "label": "Label",
            "duration_ms": 180_000 + i * 1000,
            "release_date": "2024-05-01",
            "explicit": i % 3 == 0,
        }
        for i in range(6)
    ]
    users = [
        {
            "user_id": f"{licensor}-u{i}",
            "birth_year": None if i % 7 == 0 else 1960 + (i * 3) % 50,
            "gender": GENDERS[i % 4],
            "country": COUNTRIES[i % len(COUNTRIES)],
            "region_code": None,
            "product": PRODUCTS[i % 4],
            "account_age_days": 100 + i,
        }
        for i in range(20)
    ]
    playlists = [_b62(rng) for _ in range(3)]
    return tracks, users, playlists


def _stream(
    rng: random.Random, day: date, track: dict, user: dict, playlists: list[str], short: bool
) -> dict:
    source = rng.choice(SOURCES)
    playlist = rng.choice(playlists) if source in ("own_playlist", "others_playlist", "chart") else None
    return {
        "timestamp": datetime(day.year, day.month, day.day, rng.randrange(24), rng.randrange(60), tzinfo=UTC),
        "user_id": user["user_id"],
        "track_id": track["track_id"],
        "isrc": track["isrc"],
        "country": user["country"],
        "region_code": None,
        "source": source,
        "source_uri": f"spotify:playlist:{playlist}" if playlist else "",
        "stream_length": rng.randrange(1000, 29_999) if short else rng.randrange(30_000, 240_000),
        "device_type": rng.choice(("mobile", "desktop", "tablet")),
        "os": "ios",
        "access": rng.choice(("free", "premium")),
        "cached": rng.random() < 0.2,
        "shuffle": rng.random() < 0.5,
        "offline": False,
        "completion": rng.random() < 0.6,
        "discovery": rng.random() < 0.1,
    }


def day_tables(licensor: str, day: date, *, rows: int = 60, variant: int = 0) -> dict[str, list[dict]]:
    """All lake tables of one licensor-day (a different `variant` emulates a re-published day)."""
    tracks, users, playlists = _catalog(licensor)
    rng = random.Random(f"{licensor}/{day}/{variant}")
    weights = [1 / (i + 1) for i in range(len(tracks))]
    pick = lambda: (rng.choices(tracks, weights)[0], rng.choice(users))  # noqa: E731
    streams = [_stream(rng, day, *pick(), playlists, short=False) for _ in range(rows + variant * 7)]
    sub30 = [_stream(rng, day, *pick(), playlists, short=True) for _ in range(rows // 4)]
    by_user = {u["user_id"]: u for u in users}
    streamed_users = sorted({s["user_id"] for s in streams + sub30})
    streamed_tracks = sorted({s["track_id"] for s in streams + sub30})
    track_by_id = {t["track_id"]: t for t in tracks}
    counts: dict[tuple, int] = {}
    for s in streams:
        u = by_user[s["user_id"]]
        key = (s["track_id"], s["country"], u["gender"], age_group(u["birth_year"], day))
        counts[key] = counts.get(key, 0) + 1
    per_country: dict[tuple, int] = {}
    for (tid, country, _g, _a), n in counts.items():
        per_country[(tid, country)] = per_country.get((tid, country), 0) + n
    skips = {k: rng.randrange(0, n + 1) for k, n in sorted(per_country.items())}
    saves = {(tid, c, p): rng.randrange(0, 3) for (tid, c) in sorted(per_country) for p in PRODUCTS[:2]}
    uri = lambda tid: f"spotify:track:{tid}"  # noqa: E731
    summary = []
    for tid in sorted({k[0] for k in per_country}):
        mine = [s for s in streams if s["track_id"] == tid]
        by_gender = {g: sum(n for k, n in counts.items() if k[0] == tid and k[2] == g) for g in GENDERS}
        t = track_by_id[tid]
        summary.append(
            {
                "track_uri": uri(tid), "track_id": tid, "track_name": t["track_name"], "isrc": t["isrc"],
                "album_name": t["album_name"], "album_uri": t["album_uri"], "upc": t["upc"],
                "artist_names": t["artist_names"],
                "artist_uris": [f"spotify:artist:{a}" for a in t["artist_names"]],
                "listeners": len({s["user_id"] for s in mine}), "streams": len(mine),
                "skips": sum(n for k, n in skips.items() if k[0] == tid),
                "saves": sum(n for k, n in saves.items() if k[0] == tid),
                "female_streams": by_gender["female"], "male_streams": by_gender["male"],
                "non_binary_streams": by_gender["non_binary"], "unknown_gender_streams": by_gender["unknown"],
            }
        )  # fmt: skip
    return {
        "streams": streams,
        "sub30_streams": sub30,
        "users": [by_user[u] for u in streamed_users],
        "tracks": [track_by_id[t] for t in streamed_tracks],
        "aggregated_summary": summary,
        "aggregated_count": [
            {
                "track_uri": uri(k[0]),
                "track_id": k[0],
                "country": k[1],
                "gender": k[2],
                "age_group": k[3],
                "streams": n,
            }
            for k, n in sorted(counts.items())
        ],
        "aggregated_skips": [
            {"track_uri": uri(k[0]), "track_id": k[0], "country": k[1], "skips": n} for k, n in skips.items()
        ],
        "aggregated_saves": [
            {"track_uri": uri(k[0]), "track_id": k[0], "country": k[1], "product": k[2], "saves": n}
            for k, n in saves.items()
        ],
    }


def lake_tables(layout: Layout) -> TableLake:
    """The data directory's Iceberg tables (the lake every mode writes: `catalog.db`, `lake/`)."""
    return TableLake.local(layout.data_dir)


def _partition_rows(table: str, licensor: str, day: date, rows: list[dict]) -> pa.Table:
    """`rows` as the table's declared schema, with the loader's lineage columns."""
    lineage = {
        "_extra": None,
        "_source_file": f"archive/{table}/{licensor}/{day}.gz",
        "_loaded_at": LOADED_AT,
    }
    return pa.Table.from_pylist([{**r, **lineage} for r in rows], schema=TABLES_BY_NAME[table].schema)


def write_partition(layout: Layout, table: str, licensor: str, day: date, rows: list[dict]) -> str:
    """Write one lake partition the way the loader does: one Iceberg commit; its data file."""
    arrow = _partition_rows(table, licensor, day, rows)
    commit = lake_tables(layout).replace_partition(table, licensor, day, arrow)
    return commit.files[0] if commit.files else ""


def write_history(layout: Layout, parts: dict[tuple[str, date], dict[str, list[dict]]]) -> None:
    """Whole lake tables, one commit each: every (licensor, day) of `parts` with its tables' rows.

    For a long history in a fixture: a commit per partition costs more as a table's metadata grows
    (90 days x 2 licensors x 8 tables took minutes), one per table does not. Replaces the tables.
    """
    lake = lake_tables(layout)
    tables = sorted({table for by_table in parts.values() for table in by_table})
    for table in tables:
        pieces = {
            part: _partition_rows(table, *part, by_table[table])
            for part, by_table in parts.items()
            if by_table.get(table)
        }
        commit_partitions(lake, table, pieces, AlwaysTrue())


def commit_partitions(
    lake: TableLake, table: str, pieces: dict[tuple[str, date], pa.Table], where: BooleanExpression
) -> None:
    """Each (licensor, day)'s rows as one data file, all in one commit of `table` that replaces
    what `where` selects."""
    rows = {part: with_partition_columns(data, *part) for part, data in pieces.items()}
    schema = next(iter(rows.values())).schema
    iceberg = lake.table_for(table, schema)
    files = []
    for (licensor, day), data in rows.items():
        path = lake.data_path(iceberg, licensor, day)
        with iceberg.io.new_output(path).create(overwrite=True) as out:
            pq.write_table(data.cast(schema), out, compression="zstd")
        files.append(path)
    lake.replace_files(table, files, schema, where=where, rows=sum(data.num_rows for data in rows.values()))


def write_day(layout: Layout, licensor: str, day: date, *, rows: int = 60, variant: int = 0) -> None:
    for table, table_rows in day_tables(licensor, day, rows=rows, variant=variant).items():
        write_partition(layout, table, licensor, day, table_rows)


def delete_day(layout: Layout, licensor: str, day: date) -> None:
    """Delete the licensor-day from every lake table (one delete commit each)."""
    lake_tables(layout).delete_where(partition_filter(licensor, day))


def write_lake(layout: Layout, days: int = 5, *, rows: int = 60) -> list[date]:
    """A lake of `days` days for both licensors; returns the days."""
    dates = [FIRST_DAY + timedelta(days=i) for i in range(days)]
    for licensor in LICENSORS:
        for day in dates:
            write_day(layout, licensor, day, rows=rows)
    return dates


def read_lake(layout: Layout, table: str) -> list[dict]:
    """Every row of a lake table at its current snapshot, read with pyiceberg (not the warehouse)."""
    lake = lake_tables(layout)
    if lake.load(table) is None:
        return []
    return lake.read(table).to_pylist()


def partition_rows(layout: Layout, table: str, licensor: str, day: date) -> list[dict] | None:
    """The rows of one lake partition at the current snapshot; None when it does not exist."""
    lake = lake_tables(layout)
    if lake.load(table) is None or (licensor, day) not in lake.files(table):
        return None
    return lake.read(table, licensor=licensor, day=day).to_pylist()


def current_files(layout: Layout, table: str) -> list[str]:
    """The data files of a lake table's current snapshot (what an outside engine would read)."""
    lake = lake_tables(layout)
    if lake.load(table) is None:
        return []
    return [path for files in lake.files(table).values() for path in files]


def partition_row_count(layout: Layout, table: str, licensor: str, day: date) -> int:
    """Rows of one lake partition at the current snapshot, from its files' footers (0: none)."""
    lake = lake_tables(layout)
    if lake.load(table) is None:
        return 0
    files = lake.files(table).get((licensor, day), [])
    return sum(pq.ParquetFile(path).metadata.num_rows for path in files)


def copy_lake(source: Path, target: Path) -> None:
    """Give data directory `target` the lake of `source` (its `lake/` and its catalog). Iceberg
    metadata names files by absolute path, so the copy's catalog still reads `source`'s table files:
    fine for reading, and a commit through the copy only adds files; never expire through a copy."""
    shutil.copytree(source / "lake", target / "lake")
    shutil.copy2(source / "catalog.db", target / "catalog.db")


def metadata_version(table: Table) -> int:
    """A table's metadata version, one per catalog commit: pyiceberg numbers the metadata files it
    writes (the metadata log is bounded, so its length stops counting at the bound)."""
    return int(table.metadata_location.rsplit("/", 1)[-1].split("-", 1)[0])


def named_files(table: Table) -> set[str]:
    """Every file the table names, as its metadata spells them: current and logged metadata files,
    each snapshot's manifest list, manifests and data files."""
    names = {table.metadata_location, *(entry.metadata_file for entry in table.metadata.metadata_log)}
    for snapshot in table.snapshots():
        manifests = snapshot.manifests(table.io)
        names |= {snapshot.manifest_list, *(m.manifest_path for m in manifests)}
        names |= {e.data_file.file_path for m in manifests for e in m.fetch_manifest_entry(table.io)}
    return names
