"""One malformed line per file, as a real feed has: the day lands, builds and publishes, with the
rejects shown in the build output and in the warehouse checks' Dagster metadata."""

from __future__ import annotations

import re

import dagster as dg

from pipeline.cli.build import print_build
from pipeline.emulator import FaultPlan
from pipeline.ingest.tally import read_tallies
from pipeline.layout import Layout
from pipeline.orchestration.resources import LakeResource
from pipeline.warehouse.build import build_warehouse
from tests.conftest import LOADED_DAY
from tests.kits.reliability import load_day, record
from tests.kits.settings import kit_partitions, runs_in
from tests.reliability.conftest import LICENSOR

RECONCILED = ("aggregated_count_matches_streams", "streamed_users_in_users", "streamed_tracks_in_tracks")


def _warehouse_check_evaluations(data_dir) -> dict[str, dg.AssetCheckEvaluation]:
    from assets.warehouse import warehouse_assets

    assets = warehouse_assets(kit_partitions())
    with dg.instance_for_test() as instance:
        result = dg.materialize(
            assets,
            selection=["stg_aggregated_count", "stg_streams"],
            partition_key=f"{LOADED_DAY:%Y-%m-%d}",
            resources={"lake": LakeResource(data_dir=str(data_dir))},
            instance=instance,
        )
        assert result.success
        return {e.check_name: e for e in result.get_asset_check_evaluations()}


def test_one_malformed_line_per_file_lands_builds_and_publishes(emu, tmp_path, capsys):
    emu.set_faults(FaultPlan.parse(["malformed:lines=1"]))
    data_dir = tmp_path / "data"
    loaded = load_day(emu, data_dir, LICENSOR, LOADED_DAY, max_reject_share=0.2)
    assert not loaded.failures, loaded.failures
    rejected = {name: outcome.landing.rejected for name, outcome in loaded.outcomes.items()}
    assert all(n >= 1 for n in rejected.values()), rejected
    tallies = read_tallies(Layout(data_dir), LOADED_DAY, LOADED_DAY)
    assert {t.report: t.rejected for t in tallies} == rejected

    built = build_warehouse(Layout(data_dir))
    assert built.passed and built.catalog is not None, built.failed_checks
    checks = {c.name: c for c in built.checks}
    warned = [name for name in RECONCILED if checks[name].warning]
    assert "aggregated_count_matches_streams" in warned  # the cut stream and aggregated lines
    assert all(checks[name].failures == 0 for name in RECONCILED)
    total = sum(rejected.values())
    assert built.rejects.startswith(f"{total} lines rejected at landing on these days")
    print_build(built)
    out = capsys.readouterr().out
    assert "check WARNING: stg_aggregated_count.aggregated_count_matches_streams" in out
    assert f"{total} lines rejected at landing" in out and "Published" in out

    evaluations = _warehouse_check_evaluations(data_dir)
    count = evaluations["aggregated_count_matches_streams"]
    assert count.severity == dg.AssetCheckSeverity.WARN and not count.passed  # a warning, not a block
    metadata = {k: v.value for k, v in count.metadata.items()}
    assert metadata["failures"] == 0 and metadata["explained_by_rejects"] >= 1
    assert "lines rejected at landing on these days" in metadata["rejects"]
    record(
        "faults",
        "malformed (1 line per file), accepted",
        f"{total} lines rejected; build published with {len(warned)} reconciliation warnings, 0 blocked",
    )


def test_spotify_bulk_build_over_dagster_publishes_warns_and_exits_0(emu, tmp_path, capsys, monkeypatch):
    """`spotify-bulk build` (the Dagster warehouse_job, not the library call) after a day with accepted
    rejects: published, the warning printed with its numbers, exit 0, a successful run recorded in
    the data directory's own instance."""
    from pipeline.cli.main import main

    emu.set_faults(FaultPlan.parse(["malformed:lines=1"]))
    data_dir = tmp_path / "data"
    loaded = load_day(emu, data_dir, LICENSOR, LOADED_DAY, max_reject_share=0.2)
    assert not loaded.failures, loaded.failures
    total = sum(outcome.landing.rejected for outcome in loaded.outcomes.values())
    monkeypatch.setenv("SPOTIFY_BULK_DATA_DIR", str(data_dir))
    monkeypatch.setenv("SPOTIFY_LICENSORS", LICENSOR)
    monkeypatch.delenv("DAGSTER_HOME", raising=False)  # the default: the data directory's instance

    code = main(["build", "--date", f"{LOADED_DAY:%Y-%m-%d}"])
    out, err = capsys.readouterr()
    assert code == 0, out + err
    assert "check FAILED" not in out + err
    assert "check WARNING: stg_aggregated_count.aggregated_count_matches_streams: " in out
    assert re.search(r"aggregated_count_matches_streams: [1-9][\d,]* differences explained by rejects", out)
    assert f"{total} lines rejected at landing on these days" in out
    assert "Published" in out and (data_dir / "warehouse.duckdb").exists()
    runs = runs_in(data_dir / ".dagster", job_name="warehouse_job")
    assert [r.status for r in runs] == [dg.DagsterRunStatus.SUCCESS]
