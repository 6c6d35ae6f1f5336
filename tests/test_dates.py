from datetime import date

import pytest

from pipeline.dates import PERIODS, DateWindow, DateWindowError, parse_day, resolve_period, resolve_window

TODAY = date(2026, 11, 23)


def clock() -> date:
    return TODAY


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2026-11-01", date(2026, 11, 1)),
        ("0", TODAY),
        ("today", TODAY),
        ("Today", TODAY),
        ("1", date(2026, 11, 22)),
        ("yesterday", date(2026, 11, 22)),
        ("7", date(2026, 11, 16)),
        ("today-7", date(2026, 11, 16)),
        ("today - 30", date(2026, 10, 24)),
        (" 2026-02-28 ", date(2026, 2, 28)),
    ],
)
def test_parse_day_accepts_specific_and_relative(value, expected):
    assert parse_day(value, today=TODAY) == expected


def test_domo_style_days_back_range_is_inclusive_oldest_first():
    window = resolve_window(start="10", end="5", clock=clock)
    assert window == DateWindow(date(2026, 11, 13), date(2026, 11, 18))
    assert list(window) == [date(2026, 11, d) for d in range(13, 19)]
    assert len(window) == 6


def test_domo_style_single_days_back_and_mixed_ends():
    assert list(resolve_window(date_value="1", clock=clock)) == [date(2026, 11, 22)]
    mixed = resolve_window(start="2026-11-20", end="yesterday", clock=clock)
    assert (mixed.start, mixed.end, len(mixed)) == (date(2026, 11, 20), date(2026, 11, 22), 3)


def test_omitted_end_means_today():
    assert resolve_window(start="today-2", clock=clock).end == TODAY


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"start": "5", "end": "10"}, "is after the end"),
        ({"start": "2026-11-20", "end": "2026-11-01"}, "is after the end"),
        ({"date_value": "2026-13-01"}, "not a real calendar date"),
        ({"date_value": "2026-11-24"}, "in the future"),
        ({"date_value": "last week"}, "not understood"),
        ({"date_value": "-3"}, "not understood"),
        ({"date_value": "1", "start": "3"}, "not both"),
        ({}, "give a date"),
        ({"start": "20000"}, "more than"),
    ],
)
def test_bad_input_gets_a_specific_error(kwargs, message):
    with pytest.raises(DateWindowError, match=message):
        resolve_window(clock=clock, **kwargs)


def test_window_string_form():
    assert str(resolve_window(date_value="2026-11-01", clock=clock)) == "2026-11-01"
    assert str(resolve_window(start="3", end="1", clock=clock)) == "2026-11-20..2026-11-22"


D = date


@pytest.mark.parametrize(
    ("period", "today", "start", "end"),
    [
        ("last-7-days", D(2026, 11, 23), D(2026, 11, 16), D(2026, 11, 22)),
        ("last-7-days", D(2026, 3, 3), D(2026, 2, 24), D(2026, 3, 2)),  # across February's end
        ("last-7-days", D(2027, 1, 1), D(2026, 12, 25), D(2026, 12, 31)),  # across the year
        ("last-30-days", D(2026, 11, 23), D(2026, 10, 24), D(2026, 11, 22)),
        ("last-30-days", D(2028, 3, 1), D(2028, 1, 31), D(2028, 2, 29)),  # a leap year
        ("month-to-date", D(2026, 11, 23), D(2026, 11, 1), D(2026, 11, 22)),
        ("month-to-date", D(2026, 11, 2), D(2026, 11, 1), D(2026, 11, 1)),
        ("last-month", D(2026, 11, 23), D(2026, 10, 1), D(2026, 10, 31)),
        ("last-month", D(2026, 11, 1), D(2026, 10, 1), D(2026, 10, 31)),
        ("last-month", D(2026, 3, 31), D(2026, 2, 1), D(2026, 2, 28)),
        ("last-month", D(2027, 1, 15), D(2026, 12, 1), D(2026, 12, 31)),
        ("year-to-date", D(2026, 11, 23), D(2026, 1, 1), D(2026, 11, 22)),
        ("year-to-date", D(2026, 1, 2), D(2026, 1, 1), D(2026, 1, 1)),
        ("year-to-date", D(2026, 3, 1), D(2026, 1, 1), D(2026, 2, 28)),
        (" Last-Month ", D(2026, 5, 9), D(2026, 4, 1), D(2026, 4, 30)),
    ],
)
def test_periods_end_yesterday_inclusive(period, today, start, end):
    assert resolve_period(period, today) == DateWindow(start, end)
    assert resolve_window(period=period, clock=lambda: today) == DateWindow(start, end)


@pytest.mark.parametrize(
    ("period", "today"), [("month-to-date", D(2026, 11, 1)), ("year-to-date", D(2027, 1, 1))]
)
def test_a_to_date_period_on_its_first_day_is_an_error(period, today):
    with pytest.raises(DateWindowError, match=r"no finished day yet.*last-month"):
        resolve_period(period, today)


def test_every_listed_period_resolves_and_others_are_refused():
    for period in PERIODS:
        assert resolve_period(period, TODAY).end <= D(2026, 11, 22)  # the Bulk API never has today
    with pytest.raises(DateWindowError, match=r"not understood.*last-7-days"):
        resolve_period("last-week", TODAY)


@pytest.mark.parametrize(
    "given", [{"date_value": "1"}, {"start": "3"}, {"end": "1"}, {"start": "3", "end": "1"}]
)
def test_a_period_excludes_dates_and_ranges(given):
    with pytest.raises(DateWindowError, match="only one of them"):
        resolve_window(period="last-7-days", clock=clock, **given)


def test_period_argument():
    import argparse

    from pipeline.cli.args import add_window_args, window_from_args, window_given
    from pipeline.errors import UsageError

    parser = argparse.ArgumentParser()
    add_window_args(parser)
    args = parser.parse_args(["--period", "last-30-days"])
    assert window_given(args) and len(window_from_args(args)) == 30
    with pytest.raises(UsageError, match="only one of them"):
        window_from_args(parser.parse_args(["--period", "last-month", "--date", "yesterday"]))
    with pytest.raises(SystemExit):
        parser.parse_args(["--period", "last-week"])
