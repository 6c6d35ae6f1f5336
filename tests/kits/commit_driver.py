"""A writer process for the table-format trials: commits partitions of one lake table, optionally dying.

`python -m tests.kits.commit_driver DATA_DIR LAKE_URL TABLE LICENSOR DAYS ROWS [KILL_AT]`, with the
object store in the standard AWS_* variables. DAYS is comma-separated ISO dates; each is replaced
with ROWS rows whose `n` column is ROWS. KILL_AT (`write` or `commit`) SIGKILLs the process after
the first data file is written, or just before the catalog commit: a crash midway.
"""

from __future__ import annotations

import os
import signal
import sys
from datetime import date

import pyarrow as pa

from pipeline.config import open_table_lake, settings_from


def rows(count: int, marker: int) -> pa.Table:
    return pa.table({"n": pa.array([marker] * count, pa.int64()), "i": pa.array(range(count), pa.int64())})


def _die() -> None:
    os.kill(os.getpid(), signal.SIGKILL)


def _arm(kill_at: str) -> None:
    if kill_at == "commit":
        from pyiceberg.catalog.sql import SqlCatalog

        SqlCatalog.commit_table = lambda *_args, **_kwargs: _die()  # type: ignore[method-assign]
    elif kill_at == "write":
        from pipeline.storage.tables import TableLake

        def written_then_die(self, table, files, *args, **kwargs):  # the data file is written
            print("wrote", *files, flush=True)
            _die()

        TableLake.replace_files = written_then_die  # type: ignore[method-assign]


def main(argv: list[str]) -> int:
    data_dir, lake_url, table, licensor, days, count = argv[:6]
    env = {**os.environ, "SPOTIFY_BULK_DATA_DIR": data_dir, "SPOTIFY_BULK_LAKE_URL": lake_url}
    lake = open_table_lake(settings_from(env))
    if len(argv) > 6:
        _arm(argv[6])
    for day in days.split(","):
        commit = lake.replace_partition(
            table, licensor, date.fromisoformat(day), rows(int(count), int(count))
        )
        print(
            f"committed {licensor} {day} attempts={commit.attempts} seconds={commit.seconds:.3f}", flush=True
        )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
