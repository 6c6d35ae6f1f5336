from datetime import date

import pytest

from pipeline.dates import DateWindow, DateWindowError, parse_day, resolve_window

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
