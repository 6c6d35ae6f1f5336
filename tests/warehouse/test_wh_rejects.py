"""Reconciliation that understands accepted rejects: explained differences warn, others still block."""

from __future__ import annotations

from datetime import date

import pytest

from pipeline.cli.build import print_build
from pipeline.config import settings_from
from pipeline.errors import UsageError
from pipeline.ingest.tally import RejectTally, write_tally
from pipeline.layout import Layout
from pipeline.orchestration.resources import lake_resource
from pipeline.warehouse.build import BuildResult, build_warehouse
from pipeline.warehouse.options import WarehouseOptions
from tests.kits.fake_lake import day_tables, write_partition

COUNT_CHECK = "aggregated_count_matches_streams"


def _tally(layout: Layout, report: str, day: date, rejected: int, attributed=None) -> None:
    tally = RejectTally(report, "acme", day, 1000, rejected, {"malformed JSON": rejected}, attributed or {})
    write_tally(layout.rejects_partition(report, "acme", day), tally)


def _drop_stream_rows(layout: Layout, day: date, count: int) -> dict:
    """Remove `count` stream rows of one track and country (as if their lines had been rejected)."""
    streams = day_tables("acme", day)["streams"]
    first = streams[0]
    same = [
        i
        for i, s in enumerate(streams)
        if (s["track_id"], s["country"]) == (first["track_id"], first["country"])
    ]
    assert len(same) >= count
    drop = set(same[:count])
    write_partition(layout, "streams", "acme", day, [s for i, s in enumerate(streams) if i not in drop])
    return first


def _drop_a_streamed_user(layout: Layout, day: date) -> None:
    users = day_tables("acme", day)["users"]
    write_partition(layout, "users", "acme", day, users[1:])


def test_differences_explained_by_recorded_rejects_pass_as_warnings(
    layout: Layout, built: BuildResult, built_days: list[date], capsys
):
    day = built_days[2]
    first = _drop_stream_rows(layout, day, 1)
    _drop_a_streamed_user(layout, day)
    _tally(layout, "streams", day, 1, {(first["track_id"], first["country"]): 1})
    _tally(layout, "users", day, 1)  # not attributable: explained by the day's total

    result = build_warehouse(layout)
    assert result.passed and result.catalog is not None
    by_name = {c.name: c for c in result.checks}
    count = by_name[COUNT_CHECK]
    assert count.warning and count.explained == 1 and count.failures == 0
    assert (
        "2 lines rejected at landing on these days" in count.note
        and f"{day:%Y-%m-%d} acme streams 1" in count.note
    )
    assert by_name["streamed_users_in_users"].warning and by_name["streamed_users_in_users"].explained == 1
    assert not by_name["streamed_tracks_in_tracks"].warning
    assert result.rejects.startswith("2 lines rejected at landing on these days")
    print_build(result)
    out = capsys.readouterr().out
    assert f"check WARNING: stg_aggregated_count.{COUNT_CHECK}: 1 differences explained" in out
    assert "2 lines rejected at landing on these days" in out


def test_unattributed_rejects_explain_a_difference_up_to_their_count(
    layout: Layout, built: BuildResult, built_days: list[date]
):
    day = built_days[1]
    _drop_stream_rows(layout, day, 2)
    _tally(layout, "streams", day, 2)
    result = build_warehouse(layout)
    assert result.passed
    assert {c.name: c for c in result.checks}[COUNT_CHECK].explained == 1  # one row: 2 streams short


def test_a_difference_larger_than_the_rejects_still_blocks(
    layout: Layout, built: BuildResult, built_days: list[date]
):
    day = built_days[1]
    first = _drop_stream_rows(layout, day, 2)
    _tally(layout, "streams", day, 1, {(first["track_id"], first["country"]): 1})
    result = build_warehouse(layout)
    assert not result.passed and result.catalog is None
    [failed] = result.failed_checks
    assert failed.name == COUNT_CHECK and failed.failures == 1 and failed.explained == 0
    assert failed.sample[0][2] == first["track_id"]


def test_rejects_on_another_day_explain_nothing(layout: Layout, built: BuildResult, built_days: list[date]):
    _drop_a_streamed_user(layout, built_days[3])
    _tally(layout, "users", built_days[2], 5)
    result = build_warehouse(layout)
    assert [c.name for c in result.failed_checks] == ["streamed_users_in_users"]


def test_the_count_check_is_exact_by_default_and_says_what_to_set(
    layout: Layout, built: BuildResult, built_days: list[date], capsys
):
    """No rejects recorded: a licensor whose aggregated numbers differ from its stream rows."""
    first = _drop_stream_rows(layout, built_days[1], 1)
    result = build_warehouse(layout)
    assert not result.passed and result.catalog is None
    [failed] = result.failed_checks
    assert failed.name == COUNT_CHECK and failed.sample[0][2] == first["track_id"]
    assert "beyond SPOTIFY_BULK_RECONCILE_TOLERANCE=0 (exact)" in failed.note
    assert "by design" in failed.note and "set SPOTIFY_BULK_RECONCILE_TOLERANCE to the share" in failed.note
    print_build(result)
    assert "set SPOTIFY_BULK_RECONCILE_TOLERANCE to the share" in capsys.readouterr().err


def test_count_differences_within_the_tolerance_pass_as_warnings(
    layout: Layout, built: BuildResult, built_days: list[date]
):
    _drop_stream_rows(layout, built_days[1], 1)  # 1 of at least 2 streams of a track and country
    result = build_warehouse(layout, options=WarehouseOptions(reconcile_tolerance=0.5))
    assert result.passed and result.catalog is not None
    count = {c.name: c for c in result.checks}[COUNT_CHECK]
    assert count.warning and count.explained == 1 and count.failures == 0
    assert "1 count differences within SPOTIFY_BULK_RECONCILE_TOLERANCE=0.5" in count.note
    tight = build_warehouse(layout, options=WarehouseOptions(reconcile_tolerance=0.01))
    assert [c.name for c in tight.failed_checks] == [COUNT_CHECK]  # 1 in a handful is over 1%


def test_the_tolerance_is_a_setting_that_reaches_the_warehouse_steps():
    assert settings_from({}).reconcile_tolerance == 0.0
    settings = settings_from({"SPOTIFY_BULK_RECONCILE_TOLERANCE": "0.02"})
    assert WarehouseOptions.from_settings(settings).reconcile_tolerance == 0.02
    assert lake_resource(settings).warehouse_options().reconcile_tolerance == 0.02
    with pytest.raises(UsageError, match="SPOTIFY_BULK_RECONCILE_TOLERANCE"):
        settings_from({"SPOTIFY_BULK_RECONCILE_TOLERANCE": "1.5"})
