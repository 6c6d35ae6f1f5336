"""Small-licensor rows: the CLI's fixed costs, timed from the shell.

Each command runs as a user types it (the `spotify-bulk` console script; `python -m pipeline.cli`
for a `--baseline` tree) in its own child (`bench.child command`), against a throwaway data
directory and Dagster home. `load` talks to an emulator this process serves, its days generated
before any clock starts; the demo starts its own emulator, as it always does.
"""

from __future__ import annotations

import argparse
import datetime
import sys
from pathlib import Path

from bench import data, report
from bench.measure import REPO, Measurement, baseline_tree, measure

TINY_ROWS = 50  # stream rows of the tiny day (the small licensor had 43)
THROWAWAY = {"SPOTIFY_BULK_DATA_DIR": "{tmp}/data", "DAGSTER_HOME": "{tmp}/dagster"}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--backfill-days", type=int, default=30, help="days of the timed backfill `load`")
    parser.add_argument("--demo-days", type=int, default=7, help="`spotify-bulk demo --days`")
    parser.add_argument("--demo-rows", type=int, default=3000, help="`spotify-bulk demo --rows-per-day`")


def _cli(tree: Path) -> list[str]:
    """How the shell starts the CLI: the venv's console script, or the module of a baseline tree."""
    script = Path(sys.executable).with_name("spotify-bulk")
    if tree == REPO and script.exists():
        return [str(script)]
    return [sys.executable, "-m", "pipeline.cli"]


def section(args: argparse.Namespace) -> list[Measurement]:
    """`--help`, a tiny day's `load`, the demo and a backfill `load`, per code tree (ours, before)."""
    trees = [("", REPO)]
    if args.baseline:
        trees.append((f"before @ {args.baseline}: ", baseline_tree(args.baseline, args.workdir)))
    first = data.DAY - datetime.timedelta(days=args.backfill_days - 1)
    days = [first + datetime.timedelta(days=i) for i in range(args.backfill_days)]
    config = data.emulator_config(TINY_ROWS, args.workdir, "uniform")
    tmp_root = str(args.workdir / "tmp")
    out = []
    with data.RunningEmulator(config) as emulator:
        emulator.warm(days)
        env = {
            **THROWAWAY,
            "SPOTIFY_CLIENT_ID": config.client_id,
            "SPOTIFY_CLIENT_SECRET": config.client_secret,
            "SPOTIFY_LICENSORS": data.LICENSOR,
            "SPOTIFY_BULK_API_URL": emulator.bulk_api_url,
            "SPOTIFY_ACCOUNTS_URL": emulator.accounts_url,
            "SPOTIFY_WEB_API_URL": emulator.web_api_url,
            "SPOTIFY_BULK_PSEUDONYM_KEY": data.PSEUDONYM_KEY,
        }
        load = ["load", "--licensor", data.LICENSOR]
        commands = (
            (report.HELP, "", ["--help"], THROWAWAY),
            (report.TINY_LOAD, f"{TINY_ROWS} rows/day", [*load, "--date", data.DAY.isoformat()], env),
            (
                report.DEMO,
                f"{args.demo_days} days x 2 licensors x {args.demo_rows} rows",
                ["demo", "--days", str(args.demo_days), "--rows-per-day", str(args.demo_rows)],
                THROWAWAY,
            ),
            (
                f"spotify-bulk load, {args.backfill_days}-day backfill (1 licensor)",
                f"{TINY_ROWS} rows/day",
                [*load, "--start", days[0].isoformat(), "--end", days[-1].isoformat()],
                env,
            ),
        )
        for prefix, tree in trees:
            for path, size, argv, overlay in commands:
                payload = {"argv": [*_cli(tree), *argv], "env": overlay, "tmp_root": tmp_root}
                out.append(measure("startup", prefix + path, size, "command", payload, source=tree))
    return out
