"""Files only their owner may read: rejects, blocked samples and failure logs quote personal data.

A usual umask (022) leaves new files world-readable. These files are created 0600 from the start
(never chmod-ed after the data is in them), in directories made 0700 from a root down, so neither a
file nor the listing of its directory is readable by other local users.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import IO

from pipeline.storage.atomic import atomic_write_bytes

PRIVATE_DIR_MODE = 0o700
PRIVATE_FILE_MODE = 0o600


def private_dir(path: Path, *, root: Path) -> Path:
    """Create `path` (and its parents), making `root` and every directory below it down to `path`
    0700, existing ones included (a directory an older version created 0755 is tightened)."""
    parts = path.relative_to(root).parts  # ValueError for a `path` outside `root`: a bug
    root.mkdir(parents=True, exist_ok=True, mode=PRIVATE_DIR_MODE)
    directory = root
    os.chmod(directory, PRIVATE_DIR_MODE)
    for part in parts:
        directory = directory / part
        directory.mkdir(exist_ok=True, mode=PRIVATE_DIR_MODE)
        os.chmod(directory, PRIVATE_DIR_MODE)
    return path


def open_private(path: Path) -> IO[bytes]:
    """Open `path` for writing (truncated), created 0600 whatever the umask."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, PRIVATE_FILE_MODE)
    os.fchmod(fd, PRIVATE_FILE_MODE)  # an existing file keeps its mode through O_CREAT
    return os.fdopen(fd, "wb")


def write_private(path: Path, data: bytes, *, root: Path, staging_root: Path | None = None) -> None:
    """Write `path` atomically in a private directory: a 0600 temporary file renamed into place,
    in `staging_root` when given (same filesystem; a killed writer leaves nothing next to `path`)."""
    private_dir(path.parent, root=root)
    atomic_write_bytes(path, data, staging_root=staging_root, opener=open_private)
