"""The rejects file: one JSON object per refused line, so nothing is dropped without a trace.

Rejects are spooled to the staging directory as they come (a bad day may reject millions of lines,
so they are never held in memory), then renamed into place in one step next to the partition.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from pipeline.storage.atomic import fsync_dir

RAW_CHARS = 500
REJECTS_FILE = "rejects.jsonl"


@dataclass(frozen=True)
class Reject:
    """A refused line: where it was, why, and its first characters."""

    source_file: str
    line: int
    reason: str
    raw: str

    @classmethod
    def of(cls, source_file: str, line: int, reason: str, raw: bytes) -> Reject:
        text = raw[: RAW_CHARS * 4].decode("utf-8", errors="replace")[:RAW_CHARS]
        return cls(source_file, line, reason, text)


class RejectLog:
    """Append-only spool of rejects, published atomically (or an old file removed) at the end."""

    def __init__(self, spool: Path) -> None:
        self.spool = spool
        self.count = 0
        self._fh: IO[bytes] | None = None

    def add(self, rejects: list[Reject]) -> None:
        if not rejects:
            return
        if self._fh is None:
            self._fh = open(self.spool, "wb")  # noqa: SIM115 - closed in publish()/close()
        lines = (json.dumps(r.__dict__, ensure_ascii=False) + "\n" for r in rejects)
        self._fh.write("".join(lines).encode("utf-8", errors="backslashreplace"))
        self.count += len(rejects)

    def close(self) -> None:
        if self._fh is not None:
            self._fh.flush()
            os.fsync(self._fh.fileno())
            self._fh.close()
            self._fh = None

    def publish(self, final: Path) -> Path | None:
        """Rename the spool to `final` (same filesystem); with no rejects, remove an old `final`."""
        self.close()
        if self.count == 0:
            if final.exists():
                final.unlink()
                fsync_dir(final.parent)
            return None
        final.parent.mkdir(parents=True, exist_ok=True)
        os.replace(self.spool, final)
        fsync_dir(final.parent)
        return final
