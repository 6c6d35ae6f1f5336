"""Retention in Dagster's storage: nothing keyed by an expired partition of a personal table
survives (runs, run tags, events, asset metadata, check executions, cached materializations,
compute logs); aggregates may. Every file under the instance directory is searched, SQLite files
through a dump of every table."""

from __future__ import annotations

import sqlite3
import sys
from datetime import date, timedelta
from pathlib import Path

import dagster as dg

from pipeline.orchestration.event_retention import purge_expired
from pipeline.orchestration.partitions import partition_key
from tests.kits.settings import kit_partitions

OLD, NEW = date(2026, 5, 1), date(2026, 5, 20)
CUTOFF = OLD + timedelta(days=10)


def _marker(kind: str, day: date) -> str:
    return f"MARKER-{kind}-{day:%Y%m%d}"


KINDS = ("tag", "meta", "check", "log", "stdout", "stderr")


def _assets() -> list[dg.AssetsDefinition]:
    """`streams` (a personal table, date x licensor partitions) with a check; `daily_streams` (an
    aggregate, date partitions). Each writes its day's markers into every kind of metadata."""
    partitions = kit_partitions()

    @dg.multi_asset(
        name="streams_report",
        specs=[dg.AssetSpec("streams")],
        check_specs=[dg.AssetCheckSpec("schema_as_declared", asset="streams", blocking=True)],
        partitions_def=partitions.reports,
    )
    def streams(context):
        day = date.fromisoformat(context.partition_key.split("|")[0])
        context.log.info(f"landed {_marker('log', day)}")
        print(_marker("stdout", day))
        print(_marker("stderr", day), file=sys.stderr)
        yield dg.MaterializeResult(
            asset_key="streams",
            metadata={"preview": dg.MetadataValue.md(f"| user_id |\n|--|\n| {_marker('meta', day)} |")},
            check_results=[
                dg.AssetCheckResult(
                    asset_key="streams",
                    check_name="schema_as_declared",
                    passed=True,
                    metadata={"sample": _marker("check", day)},
                )
            ],
        )

    @dg.asset(name="daily_streams", partitions_def=partitions.dates)
    def aggregate(context):
        return dg.MaterializeResult(metadata={"total": f"AGGREGATE-{context.partition_key}"})

    return [streams, aggregate]


def _instance_text(root: Path) -> str:
    """Everything the instance directory holds, as text: SQLite files as a dump of every table,
    every other file as it is."""
    chunks = []
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        head = path.read_bytes()[:16]
        if head.startswith(b"SQLite format 3"):
            with sqlite3.connect(path) as con:
                chunks.append("\n".join(con.iterdump()))
        elif not path.name.endswith(("-wal", "-shm")):
            chunks.append(path.read_bytes().decode("utf-8", errors="replace"))
    return "\n".join(chunks)


def test_retention_leaves_nothing_of_a_personal_tables_expired_partitions(tmp_path):
    assets = _assets()
    (tmp_path / "home").mkdir()
    with dg.DagsterInstance.local_temp(str(tmp_path / "home")) as instance:
        runs = {}
        for day in (OLD, NEW):
            runs[day] = dg.materialize(
                assets,
                selection=["streams"],
                partition_key=str(partition_key("acme", day)),
                instance=instance,
                tags={"note": _marker("tag", day)},
            ).run_id
            dg.materialize(assets, selection=["daily_streams"], partition_key=f"{day}", instance=instance)
        # The old day materialized again after the new one: the cached latest materialization is it.
        runs["again"] = dg.materialize(
            assets,
            selection=["streams"],
            partition_key=str(partition_key("acme", OLD)),
            instance=instance,
            tags={"note": _marker("tag", OLD)},
        ).run_id
        root = Path(instance.root_directory)
        before = _instance_text(root)
        assert all(_marker(kind, OLD) in before for kind in KINDS), [
            k for k in KINDS if _marker(k, OLD) not in before
        ]  # the search sees every kind

        purged = purge_expired(instance, CUTOFF)

        after = _instance_text(root)
        assert [k for k in KINDS if _marker(k, OLD) in after] == []
        assert all(_marker(kind, NEW) in after for kind in KINDS)  # the kept day keeps everything
        assert set(purged.runs) >= {runs[OLD], runs["again"]} and runs[NEW] not in purged.runs
        latest = instance.get_latest_materialization_event(dg.AssetKey("streams"))
        assert latest is not None and latest.run_id == runs[NEW]  # the cache points at what is left
