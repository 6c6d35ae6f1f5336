"""`spotify-bulk status`: loaded, not-yet-available, failed and rejected days on a lake built for the test."""

from __future__ import annotations

import json
import time
from datetime import UTC, date, datetime, timedelta

import pytest

from pipeline.cli.main import build_parser
from pipeline.cli.status import format_status, run
from pipeline.config import Settings
from pipeline.dates import DateWindow
from pipeline.ingest.ledger import LoadRecord, write_record
from pipeline.ingest.status import lake_status, repull_window
from pipeline.ingest.tally import RejectTally, write_tally
from pipeline.layout import Layout
from tests.kits.fake_lake import FIRST_DAY, day_tables, write_day, write_history

AT = datetime(2026, 6, 20, 6, 5, tzinfo=UTC)
TODAY = FIRST_DAY + timedelta(days=5)


@pytest.fixture
def layout(tmp_path) -> Layout:
    """acme: three good days, a failed reload, a not-yet-available day; a day with rejects."""
    layout = Layout(tmp_path / "data")
    for back in range(3):
        write_day(layout, "acme", FIRST_DAY + timedelta(days=back), rows=20)
    day0, day1, day3 = FIRST_DAY, FIRST_DAY + timedelta(days=1), FIRST_DAY + timedelta(days=3)
    write_record(layout, LoadRecord("streams", "acme", day0, "loaded", AT, rows=20, lines=21, rejected=1))
    write_tally(
        layout.rejects_partition("streams", "acme", day0),
        RejectTally("streams", "acme", day0, 21, 1, {"malformed JSON": 1}),
    )
    write_record(layout, LoadRecord("users", "acme", day1, "failed", AT, "streams.stream_length breaks rule"))
    for report in ("streams", "users"):
        write_record(layout, LoadRecord(report, "acme", day3, "not_available", AT, "not published yet"))
    return layout


def _status(layout: Layout, licensors=("acme",)):
    window = DateWindow(FIRST_DAY, FIRST_DAY + timedelta(days=4))
    return lake_status(layout, licensors, window, today=TODAY, lookback_days=3, first_day=date(2025, 1, 1))


def test_the_grid_tells_loaded_not_yet_available_failed_and_rejected_days_apart(layout: Layout):
    status = _status(layout)
    day0, day1, day3, day4 = (FIRST_DAY + timedelta(days=n) for n in (0, 1, 3, 4))
    loaded = status.cell("acme", day0, "streams")
    assert (loaded.state, loaded.rows, loaded.rejected, loaded.loaded_at) == ("loaded", 20, 1, AT)
    failed = status.cell("acme", day1, "users")
    assert (
        failed.state == "failed" and "stream_length" in failed.cause and failed.rows
    )  # previous version kept
    assert status.cell("acme", day1, "streams").state == "loaded"
    assert status.cell("acme", day3, "streams").state == "not_available"
    assert status.cell("acme", day3, "tracks").state == "not_loaded"
    assert status.cell("acme", day4, "streams").state == "not_loaded"
    [health] = status.licensors
    assert health.newest_day == FIRST_DAY + timedelta(days=2) and health.last_load >= AT  # lake files: now
    assert (
        health.days_missing == (day1, day3, day4) and health.days_failed == (day1,) and health.rejected == 1
    )
    assert status.repull == DateWindow(TODAY - timedelta(days=4), TODAY - timedelta(days=1))

    text = format_status(status)
    assert "20 (1 rej)" in text and "not yet" in text and "FAILED" in text
    assert f"{day1:%Y-%m-%d} acme users: streams.stream_length breaks rule" in text
    assert "1 lines rejected at landing on these days" in text
    assert "acme: newest complete day 2026-06-03, last successful load" in text


def test_status_json_from_the_command_line(layout: Layout, capsys):
    args = build_parser().parse_args(
        [
            "status",
            "--licensor",
            "acme",
            "--start",
            f"{FIRST_DAY}",
            "--end",
            f"{FIRST_DAY + timedelta(days=1)}",
            "--json",
        ]
    )
    assert run(args, Settings(data_dir=layout.data_dir)) == 0
    document = json.loads(capsys.readouterr().out)
    states = {(c["date"], c["report"]): c["state"] for c in document["cells"]}
    assert states[(f"{FIRST_DAY + timedelta(days=1)}", "users")] == "failed"
    assert states[(f"{FIRST_DAY}", "streams")] == "loaded" and len(states) == 10
    assert document["licensors"][0]["rejected"] == 1


def test_the_repull_window_matches_the_daily_schedule():
    assert repull_window(date(2026, 6, 15), 3, date(2025, 1, 1)) == DateWindow(
        date(2026, 6, 11), date(2026, 6, 14)
    )
    assert repull_window(date(2025, 1, 1), 3, date(2025, 1, 1)) is None


def test_status_on_90_days_of_two_licensors_is_quick(tmp_path, capsys):
    layout = Layout(tmp_path / "data")
    days = [FIRST_DAY + timedelta(days=n) for n in range(90)]
    parts = {}
    for licensor in ("acme", "globex"):
        tables = day_tables(licensor, FIRST_DAY, rows=10)
        for day in days:
            parts[licensor, day] = tables
            write_record(layout, LoadRecord("streams", licensor, day, "loaded", AT, rows=10))
    write_history(layout, parts)
    started = time.perf_counter()
    status = lake_status(
        layout,
        ("acme", "globex"),
        DateWindow(days[0], days[-1]),
        today=TODAY,
        lookback_days=3,
        first_day=FIRST_DAY,
    )
    text = format_status(status)
    seconds = time.perf_counter() - started
    assert len(status.cells) == 90 * 2 * 5 and all(c.state == "loaded" for c in status.cells)
    assert text.count("\n  2026-") == 180
    with capsys.disabled():
        print(f"\nstatus on 90 days x 2 licensors x 5 reports: {seconds:.3f} s")
    assert seconds < 10


def test_the_dashboards_health_frames_carry_the_same_facts(layout: Layout):
    from pipeline.dashboard.queries import health_frames

    freshness, problems = health_frames(_status(layout))
    assert freshness.row(0, named=True) | {"last_load": None} == {
        "licensor": "acme",
        "newest_day": FIRST_DAY + timedelta(days=2),
        "last_load": None,
        "days_missing": 3,
        "missing": "06-02, 06-04, 06-05",
        "days_failed": 1,
        "rejected": 1,
    }
    states = {(r["date"], r["report"]): (r["state"], r["rejected"]) for r in problems.iter_rows(named=True)}
    assert states[(FIRST_DAY, "streams")] == ("loaded", 1)
    assert states[(FIRST_DAY + timedelta(days=1), "users")] == ("failed", 0)
    assert states[(FIRST_DAY + timedelta(days=3), "streams")] == ("not available", 0)
