"""A partition refused by the landing gate still reports its blocking asset checks in Dagster."""

from __future__ import annotations

from pathlib import Path

import dagster as dg

from pipeline.ingest.landing.gate import UNIT_CHECK, BlockedByChecksError, GateOutcome, gate_checks
from pipeline.layout import Layout
from pipeline.orchestration.partitions import partition_key
from pipeline.orchestration.resources import LakeResource
from tests.conftest import LOADED_DAY
from tests.kits.settings import emulator_bulk_api, lake_report_assets


def test_a_blocked_landing_fails_the_run_and_reports_the_failed_checks(emulator, tmp_path, monkeypatch):
    sample = ({"stream_length": 12, "_source_file": "archive/sub30_streams/US.gz"},)
    failed = [
        GateOutcome(
            "sub30_streams", UNIT_CHECK, False, "stream_length", "some >= 30 ms", "spans 0..29", sample
        ),
    ]

    def refuse(_layout, report, licensor, day, _files, **_kwargs):
        raise BlockedByChecksError(report.name, licensor, f"{day}", failed, Path("blocked.json"))

    monkeypatch.setattr("pipeline.ingest.load.land_partition", refuse)
    with dg.instance_for_test() as instance:
        result = dg.materialize(
            lake_report_assets(),
            selection=["sub30_streams"],
            partition_key=str(partition_key("acme", LOADED_DAY)),
            resources={
                "bulk_api": emulator_bulk_api(emulator),
                "lake": LakeResource(data_dir=str(tmp_path / "data")),
            },
            instance=instance,
            raise_on_error=False,
        )
    assert not result.success and not result.get_asset_materialization_events()
    checks = {e.check_name: e for e in result.get_asset_check_evaluations()}
    assert set(checks) == {UNIT_CHECK}  # out-of-bounds lines are rejects, not day-level checks
    unit = checks[UNIT_CHECK]
    assert not unit.passed and unit.metadata["field"].value == "stream_length"
    assert unit.metadata["sample"].value == [sample[0]]
    [failure] = result.get_step_failure_events()
    assert "previous version is kept" in failure.step_failure_data.error.message


def test_blocking_checks_run_before_publishing_only_and_monitors_only_warn(emulator, tmp_path, monkeypatch):
    """A check run on the published file cannot block it: the gate's verdict (on the staged file)
    is what the blocking checks report; after publishing only monitors (WARN, non-blocking) run."""
    data_dir = tmp_path / "data"
    checked: list[Path] = []

    def spy(spec, path):
        checked.append(Path(path))
        return gate_checks(spec, path)

    monkeypatch.setattr("pipeline.ingest.landing.land.gate_checks", spy)
    monkeypatch.setattr("assets.bulk_reports.gate_checks", spy, raising=False)
    with dg.instance_for_test() as instance:
        result = dg.materialize(
            lake_report_assets(),
            selection=["streams"],
            partition_key=str(partition_key("acme", LOADED_DAY)),
            resources={
                "bulk_api": emulator_bulk_api(emulator),
                "lake": LakeResource(data_dir=str(data_dir)),
            },
            instance=instance,
        )
    staging = Layout(data_dir).staging_root
    assert checked and all(staging in p.parents for p in checked)  # the staged file, never a published one
    checks = {e.check_name: e for e in result.get_asset_check_evaluations()}
    assert checks["schema_as_declared"].passed
    assert "before publishing" in checks["schema_as_declared"].metadata["checked"].value
    assert checks["reject_share"].severity == dg.AssetCheckSeverity.WARN
    specs = {spec.name: spec for asset in lake_report_assets() for spec in asset.check_specs}
    assert not specs["reject_share"].blocking and specs["reject_share"].description.startswith("Monitor")
    assert specs["schema_as_declared"].blocking
    assert specs["schema_as_declared"].description.startswith("Blocking (checked before publishing)")
