"""`spotify-bulk`: the command line. One module per command under `pipeline/cli/`.

Each command module has `add_parser(subparsers)` and `run(args, settings)`. Arguments are parsed and
validated first, so a typo fails in a second with a clear message instead of half-way through a
backfill; settings are read once, here; heavy libraries (Dagster) are imported only by commands
that run them. A failure prints one line and a hint, never a traceback (that goes to a log file,
see `failures.py`), unless `--verbose` (accepted before or after the command).
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence
from pathlib import Path

from pipeline.cli.args import add_verbose_arg
from pipeline.cli.commands import COMMANDS
from pipeline.cli.failures import EXIT_USAGE, report_failure
from pipeline.config import load_settings, set_process_defaults

EXIT_OK = 0
__all__ = ["EXIT_OK", "EXIT_USAGE", "build_parser", "main"]


def _command(name: str):  # noqa: ANN202 - a module
    return importlib.import_module(f"pipeline.cli.{name}")


def build_parser(only: str | None = None, *, listing: bool = False) -> argparse.ArgumentParser:
    """Every command's parser, or only `only`'s: importing one module, not every command's
    libraries, keeps a quick command (`status`) quick. `listing`: the commands by name and help
    only, importing none of them (`spotify-bulk --help`, a missing or unknown command)."""
    parser = argparse.ArgumentParser(prog="spotify-bulk", description=__doc__.splitlines()[0])
    add_verbose_arg(parser)
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, text in COMMANDS.items():
        if listing:
            sub.add_parser(name, help=text)
        elif only is None or name == only:
            _command(name).add_parser(sub)
    for command_parser in sub.choices.values():  # after the command too; SUPPRESS keeps an earlier -v
        add_verbose_arg(command_parser, default=argparse.SUPPRESS)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    named = next((a for a in argv if not a.startswith("-")), None)  # the command (after any -v)
    args = (build_parser(named) if named in COMMANDS else build_parser(listing=True)).parse_args(argv)
    set_process_defaults()
    data_dir: Path | None = None
    try:
        settings = load_settings()
        data_dir = settings.lake_dir
        return int(_command(args.command).run(args, settings))
    except (Exception, KeyboardInterrupt) as exc:
        return report_failure(args.command, exc, argv=argv, data_dir=data_dir, verbose=args.verbose)


if __name__ == "__main__":
    sys.exit(main())
