"""The cost of the table-format commit per partition: `uv run python -m bench.table_commit`.

`--licensor-day`: instead, the landing's commit cost for one licensor-day (the eight lake tables,
each a staged Parquet file streamed into its table and committed, then the load's expiry: what
`land_partition` does), with the data directory's own SQLite catalog. `--backfill DAYS`: that
commit for DAYS new days in a row, with and without the load's expiry of the snapshots it
superseded (storage/expiry.py), in quarters: without it, every commit copies one more snapshot.

Replaces one licensor-day partition of a streams-shaped table N times per configuration and prints
the median seconds of: the local lake's publish (write Parquet + directory swap), and the Iceberg
commit (data file + manifests + metadata + catalog compare-and-swap) on the local filesystem with the
SQLite catalog, on moto S3, and on SeaweedFS with the PostgreSQL catalog (when PostgreSQL is installed).
A 1-row partition isolates the commit's fixed cost from writing the data.
"""

from __future__ import annotations

import argparse
import contextlib
import statistics
import tempfile
import time
from collections.abc import Callable, Iterator
from datetime import date, timedelta
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from pipeline.config import ObjectStoreSettings, Settings, open_table_lake
from pipeline.orchestration.servers import MissingServer, start_postgres
from pipeline.storage.atomic import publish_dir, staging_dir
from tests.kits.object_store import moto_s3, seaweedfs_s3

DAY = date(2026, 6, 10)


def streams_like(rows: int) -> pa.Table:
    """Rows shaped like the streams table: ids, timestamps, a few small columns."""
    n = pa.array(range(rows), pa.int64())
    return pa.table(
        {
            "timestamp": pa.array(range(rows), pa.int64()).cast(pa.timestamp("us", tz="UTC")),
            "user_id": pa.array([f"user-{i % 5000:06d}" for i in range(rows)]),
            "track_id": pa.array([f"track-{i % 900:022d}" for i in range(rows)]),
            "country": pa.array(["SE", "US", "DE", "BR"] * (rows // 4) + ["SE"] * (rows % 4)),
            "ms_played": n,
        }
    )


def _median(run: Callable[[], None], times: int) -> float:
    run()  # warm-up: table creation, connections
    samples = []
    for _ in range(times):
        started = time.perf_counter()
        run()
        samples.append(time.perf_counter() - started)
    return statistics.median(samples)


def local_publish(root: Path, data: pa.Table) -> Callable[[], None]:
    def run() -> None:
        with staging_dir(root / ".staging") as work:
            built = work / "p"
            built.mkdir()
            pq.write_table(data, built / "part-0.parquet", compression="zstd")
            publish_dir(
                built, root / "lake" / "streams" / "licensor=acme" / "date=2026-06-10", staging_root=root
            )

    return run


def iceberg(settings: Settings, data: pa.Table) -> Callable[[], None]:
    lake = open_table_lake(settings)
    return lambda: lake.replace_partition("streams", "acme", DAY, data) and None


@contextlib.contextmanager
def configurations(root: Path) -> Iterator[list[tuple[str, Callable[[pa.Table], Callable[[], None]]]]]:
    with contextlib.ExitStack() as stack:
        moto = stack.enter_context(moto_s3())
        weed = stack.enter_context(seaweedfs_s3(root / "weed"))
        configs: list[tuple[str, Callable[[pa.Table], Callable[[], None]]]] = [
            (
                "reference: Parquet + directory swap (the old local lake)",
                lambda d: local_publish(root / "hive", d),
            ),
            (
                "Iceberg, local files, SQLite catalog",
                lambda d: iceberg(Settings(data_dir=root / "a", lake_url=str(root / "ice")), d),
            ),
            ("Iceberg, moto S3, SQLite catalog", lambda d: iceberg(_s3(root / "b", moto, "moto"), d)),
            ("Iceberg, SeaweedFS S3, SQLite catalog", lambda d: iceberg(_s3(root / "c", weed, "sqlite"), d)),
        ]
        try:
            postgres = stack.enter_context(start_postgres())
            postgres.create_database("bench")
            uri = postgres.url("bench")
            configs.append(
                (
                    "Iceberg, SeaweedFS S3, PostgreSQL catalog",
                    lambda d: iceberg(_s3(root / "d", weed, "pg").with_changes(catalog_uri=uri), d),
                )
            )
        except MissingServer as exc:
            print(f"(skipping the PostgreSQL catalog: {exc})")
        yield configs


def _s3(data_dir: Path, store: ObjectStoreSettings, bucket: str) -> Settings:
    return Settings(data_dir=data_dir, lake_url=f"s3://bench-{bucket}/lake", object_store=store)


def licensor_day(root: Path, rows: int, *, expire: bool = False) -> Callable[[date], None]:
    """Commit a licensor-day's eight lake tables from staged files, as landing does (`expire`: then
    expire what the load superseded, as landing does with the default grace period)."""
    from pipeline.config import DEFAULT_READER_GRACE_SECONDS
    from pipeline.reports import TABLES_BY_NAME
    from pipeline.storage.expiry import expire_superseded
    from pipeline.storage.tables import TableLake

    lake = TableLake.local(root / "data")
    staged = {}
    root.mkdir(parents=True, exist_ok=True)
    for name, spec in TABLES_BY_NAME.items():
        path = root / f"{name}.parquet"
        row = {f.name: None for f in spec.schema}
        pq.write_table(pa.Table.from_pylist([row] * rows, schema=spec.schema), path, compression="zstd")
        staged[name] = path

    def run(day: date = DAY) -> None:
        commits = [lake.replace_partition_file(name, "acme", day, path) for name, path in staged.items()]
        if expire:
            expire_superseded(lake, commits, DEFAULT_READER_GRACE_SECONDS)

    return run


def backfill(root: Path, rows: int, days: int) -> None:
    """Seconds per licensor-day over `days` new days, in quarters, without and with load expiry."""
    quarter = max(1, days // 4)
    print(
        f"| backfill of {days} new days, 8 tables, {rows:,} rows each | "
        + " | ".join(f"days {q * quarter + 1}-{(q + 1) * quarter}" for q in range(days // quarter))
        + " |"
    )
    print("|---|" + "---:|" * (days // quarter))
    for expire in (False, True):
        commit = licensor_day(root / f"expire-{expire}", rows, expire=expire)
        cells, started = [], time.perf_counter()
        for n in range(quarter * (days // quarter)):
            commit(DAY + timedelta(days=n))
            if (n + 1) % quarter == 0:
                cells.append(f"{(time.perf_counter() - started) / quarter:.3f} s")
                started = time.perf_counter()
        name = "with the load's expiry" if expire else "without expiry (snapshots kept until a build)"
        print(f"| {name} | " + " | ".join(cells) + " |", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, action="append", help="rows per partition (repeatable)")
    parser.add_argument("--times", type=int, default=5)
    parser.add_argument("--licensor-day", action="store_true", help="the eight tables of a licensor-day")
    parser.add_argument("--backfill", type=int, metavar="DAYS", help="licensor-days of new dates in a row")
    args = parser.parse_args()
    if args.backfill:
        with tempfile.TemporaryDirectory() as tmp:
            backfill(Path(tmp), (args.rows or [1_000])[0], args.backfill)
        return
    if args.licensor_day:
        with tempfile.TemporaryDirectory() as tmp:
            for size in args.rows or [1_000]:
                seconds = _median(licensor_day(Path(tmp) / str(size), size, expire=True), args.times)
                print(f"licensor-day, 8 tables, {size:,} rows each, local SQLite catalog: {seconds:.3f} s")
        return
    sizes = args.rows or [1, 3_000, 200_000]
    with tempfile.TemporaryDirectory() as tmp, configurations(Path(tmp)) as configs:
        print("| configuration | " + " | ".join(f"{n:,} rows" for n in sizes) + " |")
        print("|---|" + "---:|" * len(sizes))
        for name, make in configs:
            cells = []
            for size in sizes:
                cells.append(f"{_median(make(streams_like(size)), args.times) * 1000:.0f} ms")
            print(f"| {name} | " + " | ".join(cells) + " |", flush=True)


if __name__ == "__main__":
    main()
