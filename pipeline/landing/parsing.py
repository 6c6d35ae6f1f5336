"""What every report parser returns, and the look-ahead that prepares blocks in parallel."""

from __future__ import annotations

from collections import Counter, deque
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Protocol

import pyarrow as pa

from pipeline.landing.reader import Item
from pipeline.landing.rejects import Reject


@dataclass(frozen=True)
class Parsed:
    """One block's outcome: accepted rows per table (declared fields + `_extra`), rejects, counts."""

    tables: dict[str, pa.Table]
    rejects: list[Reject]
    lines: int  # lines in the block, blank ones included: the next block's numbering starts after
    records: int  # non-blank lines


class Parser(Protocol):
    unknown_fields: Counter[str]

    def prepare(self, data: bytes) -> Any:
        """Work that needs no line numbers and may run in a worker thread."""

    def parse(self, data: bytes, prepared: Any, first_line: int, source: str) -> Parsed:
        """The block's rows and rejects, given what `prepare` returned for it."""


def prepare_ahead(
    items: Iterator[Item], parser: Parser, pool: ThreadPoolExecutor, depth: int
) -> Iterator[tuple[Item, Any]]:
    """Yield (item, prepared) in order while up to `depth` later blocks are being prepared."""
    window: deque[tuple[Item, Future[Any] | None]] = deque()
    try:
        for item in items:
            window.append((item, pool.submit(parser.prepare, item) if isinstance(item, bytes) else None))
            if len(window) > depth:
                ready, future = window.popleft()
                yield ready, future.result() if future else None
        while window:
            ready, future = window.popleft()
            yield ready, future.result() if future else None
    finally:
        for _, future in window:
            if future is not None:
                future.cancel()
