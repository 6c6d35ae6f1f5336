# ruff: noqa: E501  (long generator SQL reads better unwrapped)
"""Benchmark: build time of one day with 7 vs 60 days of history (not a test; run by hand).

    uv run python tests/kits/bench_lakes.py --rows 100000 --work /tmp/wh-bench

Generates a consistent lake with DuckDB (streams per licensor-day as given, ~20 % sub-30, users,
tracks and aggregated tables derived from the streams), fully builds a 7-day and a 60-day copy,
then times a one-day build of the last day in each (median of three).
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import time
import zlib
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import duckdb
import pyarrow as pa
from pyiceberg.expressions import And, GreaterThanOrEqual, LessThanOrEqual

from pipeline.dates import DateWindow
from pipeline.layout import Layout
from pipeline.reports import TABLES_BY_NAME
from pipeline.storage.tables import TableLake
from pipeline.warehouse.build import build_warehouse
from tests.kits.fake_lake import commit_partitions

LICENSORS = ("acme", "globex")
LAST_DAY = date(2026, 6, 30)

STREAMS = """
SELECT
    TIMESTAMPTZ '{day} 00:00:00+00' + to_seconds(CAST(random() * 86399 AS BIGINT)) AS "timestamp",
    'u' || CAST(floor(pow(random(), 2) * {users}) AS BIGINT) AS user_id,
    'T' || lpad(CAST(CAST(floor(pow(random(), 4) * {tracks}) AS BIGINT) AS VARCHAR), 21, '0') AS track_id,
    NULL::VARCHAR AS isrc,
    (['US','GB','SE','DE','BR','MX','FR','JP','IN','ES','IT','CA','AU','NL','PL'])[1 + CAST(floor(pow(random(), 2) * 15) AS INT)] AS country,
    NULL::VARCHAR AS region_code,
    (['album','artist','collection','others_playlist','own_playlist','chart','radio','search','play_queue','unknown'])[1 + CAST(floor(random() * 10) AS INT)] AS source,
    CASE WHEN random() < 0.4 THEN 'spotify:playlist:P' || CAST(floor(random() * 500) AS BIGINT) ELSE '' END AS source_uri,
    CAST({low} + random() * {span} AS BIGINT) AS stream_length,
    (['mobile','desktop','tablet','speaker'])[1 + CAST(floor(random() * 4) AS INT)] AS device_type,
    'android' AS os,
    CASE WHEN random() < 0.45 THEN 'premium' ELSE 'free' END AS access,
    random() < 0.2 AS cached, random() < 0.5 AS shuffle, random() < 0.05 AS offline,
    random() < 0.6 AS completion, random() < 0.1 AS discovery
FROM range({rows})
"""


DAILY_DAYS = 7  # the newest days: committed as the daily load commits them
BATCH_DAYS = 30  # older days: this many per table commit, as a backfill would


def _seed(licensor: str, offset: int) -> float:
    """The same rows for the same licensor and day in every process and every span."""
    return zlib.crc32(f"{licensor}/{offset}".encode()) / 2**32


def _day_tables(con: duckdb.DuckDBPyConnection, licensor: str, offset: int, rows: int) -> dict[str, pa.Table]:
    """The eight lake tables' rows of one licensor-day (streams first, the rest derived from them)."""
    day = LAST_DAY - timedelta(days=offset)
    con.execute(f"SELECT setseed({_seed(licensor, offset)})")
    fmt = {"day": day, "users": rows // 3, "tracks": 5000, "rows": rows}
    con.execute(f"CREATE OR REPLACE TABLE s AS {STREAMS.format(**fmt, low=30000, span=200000)}")
    sub = STREAMS.format(**{**fmt, "rows": rows // 5}, low=1000, span=28000)
    con.execute(f"CREATE OR REPLACE TABLE s30 AS {sub}")
    con.execute(
        "CREATE OR REPLACE TABLE u AS SELECT user_id, "
        "CASE WHEN hash(user_id) % 9 = 0 THEN NULL ELSE 1960 + CAST(hash(user_id) % 50 AS INT) END AS birth_year, "
        "(['female','male','non_binary','unknown'])[1 + CAST(hash(user_id) % 4 AS INT)] AS gender, "
        "any_value(country) AS country, NULL::VARCHAR AS region_code, "
        "(['free','premium','family','duo','student'])[1 + CAST(hash(user_id) % 5 AS INT)] AS product, "
        "CAST(hash(user_id) % 3000 AS INT) AS account_age_days "
        "FROM (SELECT user_id, country FROM s UNION ALL SELECT user_id, country FROM s30) GROUP BY user_id"
    )  # fmt: skip
    age = (
        f"CASE WHEN u.birth_year IS NULL THEN 'unknown' WHEN {day.year} - u.birth_year < 18 THEN '0-17' "
        f"WHEN {day.year} - u.birth_year <= 22 THEN '18-22' WHEN {day.year} - u.birth_year <= 27 THEN '23-27' "
        f"WHEN {day.year} - u.birth_year <= 34 THEN '28-34' WHEN {day.year} - u.birth_year <= 44 THEN '35-44' "
        f"WHEN {day.year} - u.birth_year <= 59 THEN '45-59' ELSE '60-150' END"
    )  # fmt: skip
    con.execute(
        f"CREATE OR REPLACE TABLE c AS SELECT 'spotify:track:' || s.track_id AS track_uri, s.track_id, "
        f"s.country, u.gender, {age} AS age_group, count(*) AS streams FROM s JOIN u USING (user_id) "
        "GROUP BY ALL"
    )
    lineage = (
        "NULL::VARCHAR AS _extra, 'bench' AS _source_file, TIMESTAMPTZ '2026-07-01 00:00:00+00' AS _loaded_at"
    )
    return {
        table: con.sql(f"SELECT *, {lineage} FROM ({sql})")
        .to_arrow_table()
        .cast(TABLES_BY_NAME[table].schema)
        for table, sql in DERIVED.items()
    }


DERIVED = {
    "streams": "SELECT * FROM s",
    "sub30_streams": "SELECT * FROM s30",
    "users": "SELECT * FROM u",
    "tracks": "SELECT track_id, 'spotify:track:' || track_id AS track_uri, NULL AS isrc, "
    "'Song ' || track_id AS track_name, ['Artist ' || right(track_id, 2)] AS artist_names, "
    "'Album' AS album_name, NULL AS album_uri, NULL AS upc, 'Label' AS label, 200000 AS duration_ms, "
    "'2024' AS release_date, false AS explicit "
    "FROM (SELECT DISTINCT track_id FROM s UNION SELECT DISTINCT track_id FROM s30)",
    "aggregated_count": "SELECT * FROM c",
    "aggregated_skips": "SELECT track_uri, track_id, country, CAST(sum(streams) * 0.3 AS BIGINT) AS skips "
    "FROM c GROUP BY ALL",
    "aggregated_saves": "SELECT track_uri, track_id, country, p AS product, "
    "CAST(sum(streams) * 0.02 AS BIGINT) AS saves FROM c, (VALUES ('free'), ('premium')) v(p) GROUP BY ALL",
    "aggregated_summary": "SELECT track_uri, any_value(track_id) AS track_id, NULL AS track_name, "
    "NULL AS isrc, NULL AS album_name, NULL AS album_uri, NULL AS upc, NULL::VARCHAR[] AS artist_names, "
    "NULL::VARCHAR[] AS artist_uris, NULL::BIGINT AS listeners, sum(streams) AS streams, "
    "CAST(sum(streams) * 0.3 AS BIGINT) AS skips, CAST(sum(streams) * 0.04 AS BIGINT) AS saves, "
    "sum(streams) FILTER (gender = 'female') AS female_streams, "
    "sum(streams) FILTER (gender = 'male') AS male_streams, "
    "sum(streams) FILTER (gender = 'non_binary') AS non_binary_streams, "
    "sum(streams) FILTER (gender = 'unknown') AS unknown_gender_streams FROM c GROUP BY track_uri",
}  # fmt: skip


def _commit_batch(
    lake: TableLake, offsets: list[int], days: dict[tuple[str, int], dict[str, pa.Table]]
) -> None:
    """Every table's licensor-days of `offsets` in one commit per table (one data file each)."""
    first, last = (LAST_DAY - timedelta(days=max(offsets))), (LAST_DAY - timedelta(days=min(offsets)))
    where = And(GreaterThanOrEqual("date", first.isoformat()), LessThanOrEqual("date", last.isoformat()))
    for table in DERIVED:
        pieces = {
            (licensor, LAST_DAY - timedelta(days=offset)): tables[table]
            for (licensor, offset), tables in sorted(days.items())
        }
        commit_partitions(lake, table, pieces, where)


def generate(
    layout: Layout, days: int, rows: int, *, daily: int = DAILY_DAYS, batch: int = BATCH_DAYS
) -> None:
    """A lake of `days` days ending on LAST_DAY, shaped as a scheduled lake's tables are.

    The newest `daily` days are committed one licensor-day per table commit (`replace_partition`, as
    the daily load does); the older ones `batch` days per table commit (as a backfill's), which
    leaves the same data files (one per table and licensor-day) in far fewer commits. Then every
    superseded snapshot is expired, as each publish's expiry does once the reader grace period is
    over: the tables hold the current snapshot and its (merged) manifests, not the generator's.
    """
    con = duckdb.connect()
    lake = TableLake.local(layout.data_dir)
    old = list(range(days - 1, daily - 1, -1))
    for start in range(0, len(old), batch):
        offsets = old[start : start + batch]
        _commit_batch(
            lake, offsets, {(lic, o): _day_tables(con, lic, o, rows) for o in offsets for lic in LICENSORS}
        )
    for offset in range(min(days, daily) - 1, -1, -1):  # oldest first, as the days arrived
        for licensor in LICENSORS:
            day = LAST_DAY - timedelta(days=offset)
            for table, data in _day_tables(con, licensor, offset, rows).items():
                lake.replace_partition(table, licensor, day, data)
    lake.expire(datetime.now(UTC))


def copy_days(source: Layout, target: Layout, days: int) -> None:
    """Commit the newest `days` days of the lake into another data directory's tables."""
    lake, into = TableLake.local(source.data_dir), TableLake.local(target.data_dir)
    for table in TABLES_BY_NAME:
        for offset in range(days):
            for licensor in LICENSORS:
                day = LAST_DAY - timedelta(days=offset)
                into.replace_partition(table, licensor, day, lake.read(table, licensor=licensor, day=day))


def time_one_day(layout: Layout, repeats: int = 3) -> tuple[float, float, dict]:
    """Median wall and CPU seconds (all threads) of a one-day build, and the last build's phases."""
    walls, cpus, timings = [], [], {}
    for _ in range(repeats):
        wall, cpu = time.monotonic(), time.process_time()
        result = build_warehouse(layout, DateWindow(LAST_DAY, LAST_DAY))
        walls.append(time.monotonic() - wall)
        cpus.append(time.process_time() - cpu)
        assert result.passed, result.failed_checks
        timings = {**result.timings, **{b.model: b.seconds for b in result.models}}
    return statistics.median(walls), statistics.median(cpus), timings


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=100_000, help="streams per licensor-day")
    parser.add_argument("--work", type=Path, default=Path("/tmp/wh-bench"))
    parser.add_argument("--reuse", action="store_true", help="keep the lake generated by an earlier run")
    args = parser.parse_args()
    big, small = Layout(args.work / "d60"), Layout(args.work / "d7")
    if args.reuse and big.lake_root.exists():
        for layout in (big, small):  # drop everything but the lake
            for path in layout.data_dir.iterdir():
                if path.name != "lake":
                    shutil.rmtree(path) if path.is_dir() else path.unlink()
    else:
        shutil.rmtree(args.work, ignore_errors=True)
        started = time.monotonic()
        generate(big, 60, args.rows)
        copy_days(big, small, 7)
        seconds = time.monotonic() - started
        print(f"generated 60 days x {len(LICENSORS)} licensors x {args.rows:,} streams in {seconds:.0f} s")
    for name, layout in (("7 days", small), ("60 days", big)):
        started = time.monotonic()
        build_warehouse(layout)
        full = time.monotonic() - started
        wall, cpu, timings = time_one_day(layout)
        parts = ", ".join(f"{k} {v:.2f}" for k, v in timings.items())
        print(
            f"{name:>8} of history: full build {full:6.1f} s; one-day build median {wall:5.2f} s wall, {cpu:5.2f} s CPU"
        )
        print(f"          phases and models (s): {parts}")


if __name__ == "__main__":
    main()
