"""Argument pieces shared by the `spotify-bulk` subcommands."""

from __future__ import annotations

import argparse

from pipeline.dates import PERIODS, DateWindow, DateWindowError, resolve_window
from pipeline.errors import UsageError

WINDOW_ARGS = ("date", "start", "end", "period")
# Dagster's console logs: step logs with --verbose; else none (the command prints its own summary,
# failures included, and every run's logs stay in the UI).
VERBOSE_LOG_LEVEL, QUIET_LOG_LEVEL = "INFO", "CRITICAL"


def add_verbose_arg(parser: argparse.ArgumentParser, *, default: object = False) -> None:
    parser.add_argument(
        "-v",
        "--verbose",
        action="store_true",
        default=default,
        help="show Dagster's step logs and full tracebacks",
    )


def dagster_log_level(args: argparse.Namespace) -> str:
    return VERBOSE_LOG_LEVEL if getattr(args, "verbose", False) else QUIET_LOG_LEVEL


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
