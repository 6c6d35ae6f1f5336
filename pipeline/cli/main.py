"""`spotify-bulk`: the command line. One module per command under `pipeline/cli/`.

Each command module has `add_parser(subparsers)` and `run(args, settings)`. Arguments are parsed and
validated first, so a typo fails in a second with a clear message instead of half-way through a
backfill; settings are read once, here; heavy libraries (Dagster) are imported only by commands
that run them.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from pipeline.config import load_settings, set_process_defaults
from pipeline.errors import UsageError

EXIT_OK, EXIT_USAGE = 0, 2
COMMANDS = (
    "demo", "load", "enrich", "build", "status", "query", "sql", "retention", "dashboard", "emulator",
)  # fmt: skip


def _command(name: str):  # noqa: ANN202 - a module
    return importlib.import_module(f"pipeline.cli.{name}")


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    """Every command's parser, or only `only`'s: importing one module, not every command's
    libraries, keeps a quick command (`status`) quick."""
    parser = argparse.ArgumentParser(prog="spotify-bulk", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in COMMANDS:
        if only is None or name == only:
            _command(name).add_parser(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    given = list(sys.argv[1:] if argv is None else argv)
    args = build_parser(given[0] if given and given[0] in COMMANDS else None).parse_args(given)
    set_process_defaults()
    try:
        settings = load_settings()
        return int(_command(args.command).run(args, settings))
    except UsageError as exc:
        print(f"spotify-bulk {args.command}: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
