"""Argument pieces shared by the `spotify-bulk` subcommands."""

from __future__ import annotations

import argparse

from pipeline.dates import PERIODS, DateWindow, DateWindowError, resolve_window
from pipeline.errors import UsageError

WINDOW_ARGS = ("date", "start", "end", "period")


def add_window_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--date", help="one day: YYYY-MM-DD, today, yesterday, N or today-N (days back)")
    parser.add_argument("--start", help="first day of a range (specific or days back)")
    parser.add_argument("--end", help="last day of a range, inclusive (default: today)")
    parser.add_argument("--period", choices=PERIODS, help="a named period ending yesterday (UTC), as in Domo")


def window_given(args: argparse.Namespace) -> bool:
    return any(getattr(args, name, None) is not None for name in WINDOW_ARGS)


def window_from_args(args: argparse.Namespace) -> DateWindow:
    """The window of `--date`, `--start`/`--end` or `--period`, with bad input as a `UsageError`."""
    try:
        return resolve_window(date_value=args.date, start=args.start, end=args.end, period=args.period)
    except DateWindowError as exc:
        raise UsageError(str(exc)) from None
