"""How a command that fails says so: one line with the cause, a hint, and where the details are.

People running `spotify-bulk` need the cause and the next step, not a traceback; whoever debugs it
needs the traceback. So the traceback goes to a log file (under the data directory, else the
temporary directory) whose path is printed, and to stderr only with `--verbose`.
"""

from __future__ import annotations

import errno
import os
import sys
import tempfile
import traceback
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from pipeline.errors import UsageError
from pipeline.storage.private_files import open_private, private_dir

EXIT_FAILED, EXIT_USAGE, EXIT_INTERRUPTED = 1, 2, 130
_DISK_FULL = (errno.ENOSPC, errno.EDQUOT)
_NO_ACCESS = (errno.EACCES, errno.EPERM, errno.EROFS)
_BUG_HINT = "this looks like a bug: please report it with the log file"


@dataclass(frozen=True)
class Explained:
    """What to print for a failure: the cause, what to do, and the exit code."""

    message: str
    hint: str | None
    code: int = EXIT_FAILED
    expected: bool = True


def _os_error(exc: OSError, data_dir: str) -> Explained:
    where = f": {exc.filename}" if exc.filename else ""
    if exc.errno in _DISK_FULL:
        return Explained(
            f"no space left on the disk{where}",
            f"free some space (or set SPOTIFY_BULK_DATA_DIR to a larger disk; data dir {data_dir}) and "
            "run the command again",
        )
    if exc.errno in _NO_ACCESS:
        return Explained(
            f"permission denied{where}",
            f"make the data directory writable ({data_dir}) or set SPOTIFY_BULK_DATA_DIR to one that is",
        )
    return Explained(
        exc.strerror + where if exc.strerror else str(exc),
        f"check the data directory ({data_dir}) and the disk, then run the command again",
    )


def explain(exc: BaseException, data_dir: str = "SPOTIFY_BULK_DATA_DIR") -> Explained:
    """The message and hint of a known failure family; anything else is unexpected (a bug)."""
    rerun = "run the same command again: what finished is kept and is not redone"
    if isinstance(exc, UsageError):  # before the imports below: a typo is answered at once
        return Explained(str(exc), None, EXIT_USAGE)
    if isinstance(exc, KeyboardInterrupt):
        return Explained("interrupted", rerun, EXIT_INTERRUPTED)
    if isinstance(exc, OSError):
        return _os_error(exc, data_dir)
    import duckdb  # lazily: only failures pay for these imports

    from pipeline.clients.http import ApiError
    from pipeline.clients.session import AuthError
    from pipeline.enrichment.run import EnrichmentFailed
    from pipeline.ingest.landing.errors import LandingError
    from pipeline.ingest.landing.privacy import PrivacyError
    from pipeline.ingest.load import LoadFailed
    from pipeline.orchestration.warehouse_runs import BuildFailed

    if isinstance(exc, duckdb.IOException):
        return Explained(
            f"the warehouse could not be opened: {exc}",
            "another process may be writing it (a build, or `spotify-bulk sql` on the file): wait for it "
            "or close it; if the warehouse does not exist yet, run `spotify-bulk build`",
        )
    if isinstance(exc, PrivacyError):
        return Explained(str(exc), "set SPOTIFY_BULK_PSEUDONYM_KEY to the key the lake was landed with")
    if isinstance(exc, AuthError):
        return Explained(str(exc), "check SPOTIFY_CLIENT_ID and SPOTIFY_CLIENT_SECRET")
    if isinstance(exc, ApiError):
        return Explained(f"the Spotify API call failed: {exc}", f"if it is transient, {rerun}")
    if isinstance(exc, LoadFailed | LandingError | EnrichmentFailed):
        return Explained(str(exc), rerun)
    if isinstance(exc, BuildFailed):
        return Explained(
            str(exc),
            "the run's logs are in the Dagster UI (`uv run dagster dev`); fix the cause, build again",
        )
    return Explained(f"unexpected {type(exc).__name__}: {exc}", _BUG_HINT, expected=False)


def write_log(exc: BaseException, argv: list[str], log_dirs: list[Path]) -> Path | None:
    """The traceback in the first writable of `log_dirs` (a fresh file per failure), or None.
    Created 0600 in a 0700 directory: an exception's message may quote a line of personal data."""
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    text = (
        f"spotify-bulk {' '.join(argv)}\n{datetime.now(UTC).isoformat()} pid {os.getpid()} "
        f"python {sys.version.split()[0]}\n\n" + "".join(traceback.format_exception(exc))
    )
    for directory in log_dirs:
        path = directory / f"spotify-bulk-{stamp}-{os.getpid()}.log"
        try:
            private_dir(directory, root=directory)
            with open_private(path) as fh:
                fh.write(text.encode("utf-8"))
        except OSError:
            continue
        return path
    return None


def log_dirs(data_dir: Path | None) -> list[Path]:
    """Where failure logs go: `{data_dir}/logs`, else the temporary directory (data dir unwritable)."""
    fallback = Path(tempfile.gettempdir()) / "spotify-bulk-logs"
    return [data_dir / "logs", fallback] if data_dir is not None else [fallback]


def report_failure(
    command: str, exc: BaseException, *, argv: list[str], data_dir: Path | None, verbose: bool
) -> int:
    """Print the one-line error and hint (the traceback too with `verbose`); returns the exit code."""
    explained = explain(exc, str(data_dir) if data_dir else "SPOTIFY_BULK_DATA_DIR")
    print(f"spotify-bulk {command}: error: {explained.message}", file=sys.stderr)
    if explained.code == EXIT_USAGE:
        return explained.code
    log = write_log(exc, argv, log_dirs(data_dir))
    if verbose:
        traceback.print_exception(exc, file=sys.stderr)
    details = f"details in {log}" if log else "no log file could be written"
    if not verbose:
        details += " (or run again with --verbose)"
    hint = f"{explained.hint}; " if explained.hint else ""
    print(f"  {hint}{details}", file=sys.stderr)
    return explained.code
