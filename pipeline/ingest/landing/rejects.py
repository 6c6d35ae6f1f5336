"""The rejects file: one JSON object per refused line, so nothing is dropped without a trace.

Rejects are spooled to the staging directory as they come (a bad day may reject millions of lines,
so they are never held in memory), then renamed into place in one step next to the partition.

Each reject quotes the first characters of its line. In a report with personal data (streams,
sub-30 streams, users) every value except those of the declared non-personal fields is
pseudonymized with the lake's key (so an operator can still find the user's rows), or dropped when
pseudonymization is off, unless the operator opted in to raw rejects (SPOTIFY_BULK_RAW_REJECTS).
A line cut short or not JSON at all is masked by pattern: the value after each `"key":`. The files
are created 0600 in 0700 directories (`pipeline/storage/private_files.py`).
"""

from __future__ import annotations

import json
import os
import re
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import IO

import pyarrow as pa

from pipeline.reports import PERSONAL_TABLES, ReportSpec
from pipeline.storage.atomic import fsync_dir
from pipeline.storage.private_files import open_private, private_dir

RAW_CHARS = 500
REJECTS_FILE = "rejects.jsonl"
REJECTS_ROOT = "rejects"  # {data_dir}/rejects/{report}/licensor=.../date=... (`Layout.rejects_partition`)
DROPPED = "<dropped>"
# `"key": value` in a JSON text, possibly cut short: the key, then a string (maybe unterminated) or a
# bare value (number, literal; up to the next separator).
_KEY_VALUE = re.compile(r'"((?:[^"\\]|\\.)*)"(\s*:\s*)("(?:[^"\\]|\\.)*(?:"|$)|[^,{}\[\]:\s"]+)')
_NOT_PERSONAL_EXTRA = ("_source_file", "_loaded_at")


def rejects_root(directory: Path) -> Path:
    """The `rejects` directory above a rejects partition (the partition itself if there is none)."""
    return next((p for p in (directory, *directory.parents) if p.name == REJECTS_ROOT), directory)


@dataclass(frozen=True)
class RawQuoting:
    """How a reject quotes its line: as sent (`safe` None), or with every value of a key not in
    `safe` pseudonymized (`pseudonyms` given) or dropped."""

    safe: frozenset[str] | None = None
    pseudonyms: Callable[[pa.Array], pa.Array] | None = None

    @classmethod
    def for_report(
        cls,
        report: ReportSpec,
        pseudonyms: Callable[[pa.Array], pa.Array] | None,
        *,
        raw_opt_in: bool = False,
    ) -> RawQuoting:
        """`pseudonyms`: the landing's (None when pseudonymization is off); `raw_opt_in`: the
        operator asked for raw rejects (only honoured when not pseudonymizing)."""
        personal = [t for t in report.tables if t.name in PERSONAL_TABLES]
        if not personal or (pseudonyms is None and raw_opt_in):
            return cls()
        hidden = {n for t in personal for n in (*t.personal, *t.location, "birth_year", "gender")}
        declared = {f.name for t in report.tables for f in t.fields}
        return cls(frozenset(declared - hidden), pseudonyms)

    def quote(self, rejects: Sequence[Reject]) -> list[Reject]:
        if self.safe is None:
            return list(rejects)
        found: list[tuple[int, str]] = []  # (reject, value) of every value to hide
        texts = [self._mask(i, r.raw, found) for i, r in enumerate(rejects)]
        hidden = iter(self._hidden([value for _i, value in found]))
        placeholders = Counter(i for i, _value in found)
        out = []
        for i, (reject, text) in enumerate(zip(rejects, texts, strict=True)):
            for _ in range(placeholders[i]):
                text = text.replace("\x00", json.dumps(next(hidden), ensure_ascii=False), 1)
            out.append(replace(reject, raw=text[:RAW_CHARS]))
        return out

    def _hidden(self, values: list[str]) -> list[str]:
        if self.pseudonyms is None or not values:
            return [DROPPED] * len(values)
        return [str(v) for v in self.pseudonyms(pa.array(values, pa.string())).to_pylist()]

    def _mask(self, index: int, raw: str, found: list[tuple[int, str]]) -> str:
        """`raw` with a NUL placeholder for each value to hide (recorded in `found`, in order):
        in place (the line as sent, but for the hidden values) unless a whole JSON value or a
        nested one must go."""
        raw = raw.replace("\x00", "")
        try:
            document = json.loads(raw)
        except ValueError:
            document = None  # cut short at RAW_CHARS, or broken: masked by pattern
        if document is not None and not isinstance(document, dict):  # no keys to go by: all of it
            found.append((index, raw))
            return "\x00"
        if isinstance(document, dict) and any(
            isinstance(v, dict | list) for k, v in document.items() if not self._kept(k)
        ):
            kept = {}
            for key, value in document.items():
                if self._kept(key):
                    kept[key] = value
                else:
                    found.append((index, value if isinstance(value, str) else json.dumps(value)))
                    kept[key] = "\x00"
            return json.dumps(kept, ensure_ascii=False).replace('"\\u0000"', "\x00")

        def hide(match: re.Match[str]) -> str:
            key, colon, value = match.groups()
            if self._kept(key):
                return match.group(0)
            quoted = value.startswith('"')
            found.append((index, value[1:].removesuffix('"') if quoted else value))
            return f'"{key}"{colon}\x00'

        return _KEY_VALUE.sub(hide, raw)

    def _kept(self, key: str) -> bool:
        return key in self.safe or key in _NOT_PERSONAL_EXTRA  # type: ignore[operator]


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

    def __init__(self, spool: Path, quoting: RawQuoting | None = None) -> None:
        self.spool = spool
        self.quoting = quoting or RawQuoting()
        self.count = 0
        self._fh: IO[bytes] | None = None

    def add(self, rejects: list[Reject]) -> None:
        if not rejects:
            return
        if self._fh is None:
            self._fh = open_private(self.spool)  # closed in publish()/close()
        quoted = self.quoting.quote(rejects)
        lines = (json.dumps(r.__dict__, ensure_ascii=False) + "\n" for r in quoted)
        self._fh.write("".join(lines).encode("utf-8", errors="backslashreplace"))
        self.count += len(rejects)

    def close(self) -> None:
        if self._fh is not None:
            self._fh.flush()
            os.fsync(self._fh.fileno())
            self._fh.close()
            self._fh = None

    def publish(self, final: Path) -> Path | None:
        """Rename the spool to `final` (same filesystem); with no rejects, remove an old `final`.
        Either way the partition's directory is private (its tally and blocked sample go there)."""
        self.close()
        private_dir(final.parent, root=rejects_root(final.parent))
        if self.count == 0:
            if final.exists():
                final.unlink()
                fsync_dir(final.parent)
            return None
        os.replace(self.spool, final)
        fsync_dir(final.parent)
        return final
