"""Date windows for loads: a single date, a range (each end specific or relative), or a named period.

Relative ends count back from "today" on an injectable clock, the way Domo's Spotify connector
does: `--start 10 --end 5` means from 10 days ago up to 5 days ago, inclusive. Named periods
(`last-7-days`, `month-to-date`, ...) are the ones Domo's date pickers offer; see `resolve_period`.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

Clock = Callable[[], date]

_DAYS_BACK = re.compile(r"^(?:today\s*-\s*)?(\d{1,5})$")
_ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
MAX_WINDOW_DAYS = 3660
PERIODS = ("last-7-days", "last-30-days", "month-to-date", "last-month", "year-to-date")


def utc_today() -> date:
    """Today in UTC: the Bulk API publishes days in UTC."""
    return datetime.now(UTC).date()


class DateWindowError(ValueError):
    """A date or window the user gave cannot be used; the message says why and what is accepted."""


def parse_day(value: str, *, today: date, what: str = "date") -> date:
    """Resolve one end: `YYYY-MM-DD`, `today`, `yesterday`, `N` or `today-N` (N days back)."""
    text = str(value).strip().lower()
    if text == "today":
        return today
    if text == "yesterday":
        return today - timedelta(days=1)
    if match := _DAYS_BACK.fullmatch(text):
        return today - timedelta(days=int(match.group(1)))
    if _ISO_DATE.fullmatch(text):
        try:
            day = date.fromisoformat(text)
        except ValueError as exc:
            raise DateWindowError(f"{what} {value!r} is not a real calendar date ({exc})") from None
        if day > today:
            raise DateWindowError(
                f"{what} {value} is in the future (today is {today:%Y-%m-%d} UTC); "
                "the Bulk API only has past days"
            )
        return day
    raise DateWindowError(
        f"{what} {value!r} is not understood: use YYYY-MM-DD, 'today', 'yesterday', "
        "a number of days back (e.g. 7) or 'today-7'"
    )


@dataclass(frozen=True)
class DateWindow:
    """An inclusive range of days, oldest first."""

    start: date
    end: date

    def __post_init__(self) -> None:
        if self.start > self.end:
            raise DateWindowError(
                f"the start {self.start:%Y-%m-%d} is after the end {self.end:%Y-%m-%d}; "
                "with days back, the start is the larger number (e.g. --start 10 --end 5)"
            )
        if (self.end - self.start).days >= MAX_WINDOW_DAYS:
            raise DateWindowError(f"the window spans more than {MAX_WINDOW_DAYS} days; split it")

    def __iter__(self) -> Iterator[date]:
        for offset in range((self.end - self.start).days + 1):
            yield self.start + timedelta(days=offset)

    def __len__(self) -> int:
        return (self.end - self.start).days + 1

    def __str__(self) -> str:
        if self.start == self.end:
            return f"{self.start:%Y-%m-%d}"
        return f"{self.start:%Y-%m-%d}..{self.end:%Y-%m-%d}"


def resolve_period(name: str, today: date) -> DateWindow:
    """The inclusive UTC window of a named period, ending yesterday: the Bulk API never has today.

    - `last-7-days`, `last-30-days`: the 7 (30) days ending yesterday, i.e. today-7 .. today-1;
    - `month-to-date`: the 1st of this month .. yesterday;
    - `last-month`: the whole previous calendar month;
    - `year-to-date`: January 1st of this year .. yesterday.
    On the 1st of a month (January 1st for `year-to-date`) a to-date period has no finished day
    yet: that is an error naming `last-month` instead of a silent switch to another period.
    """
    text = name.strip().lower()
    yesterday = today - timedelta(days=1)
    if text in ("last-7-days", "last-30-days"):
        return DateWindow(today - timedelta(days=int(text.split("-")[1])), yesterday)
    if text == "last-month":
        last = today.replace(day=1) - timedelta(days=1)
        return DateWindow(last.replace(day=1), last)
    if text in ("month-to-date", "year-to-date"):
        first = today.replace(day=1) if text == "month-to-date" else today.replace(month=1, day=1)
        if first == today:
            raise DateWindowError(
                f"{text} has no finished day yet on {today:%Y-%m-%d} (UTC): "
                "use last-month or --date yesterday"
            )
        return DateWindow(first, yesterday)
    raise DateWindowError(f"period {name!r} is not understood: use one of {', '.join(PERIODS)}")


def resolve_window(
    *,
    date_value: str | None = None,
    start: str | None = None,
    end: str | None = None,
    period: str | None = None,
    clock: Clock = utc_today,
) -> DateWindow:
    """Resolve `--date D`, `--start S --end E` (an omitted end means today) or `--period P`."""
    today = clock()
    if period is not None:
        if date_value is not None or start is not None or end is not None:
            raise DateWindowError("give a period, a single date or a start and end: only one of them")
        return resolve_period(period, today)
    if date_value is not None:
        if start is not None or end is not None:
            raise DateWindowError("give either a single date or a start and end, not both")
        day = parse_day(date_value, today=today)
        return DateWindow(day, day)
    if start is None:
        raise DateWindowError(
            "give a date (--date), a range (--start, optionally --end) or a period (--period)"
        )
    first = parse_day(start, today=today, what="start")
    last = parse_day(end, today=today, what="end") if end is not None else today
    return DateWindow(first, last)
