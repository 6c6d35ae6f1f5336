"""What every report parser returns, and the look-ahead that prepares blocks in parallel."""

from __future__ import annotations

from collections import Counter, deque
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

import pyarrow as pa

from pipeline.ingest.landing.fieldcheck import FieldTally
from pipeline.ingest.landing.reader import Item
from pipeline.ingest.landing.rejects import Reject

T = TypeVar("T")


@dataclass(frozen=True)
class Parsed:
    """One block's outcome: accepted rows per table (declared fields + `_extra`), rejects, counts."""

    tables: dict[str, pa.Table]
    rejects: list[Reject]
    lines: int  # lines in the block, blank ones included: the next block's numbering starts after
    records: int  # non-blank lines


class Parser(Protocol):
    unknown_fields: Counter[str]
    invalid_ids: int  # lines rejected because a track id was in no known form

    def finish_file(self) -> FieldTally:
        """What the file just parsed held, for the per-file field checks (`fieldcheck.py`)."""

    def prepare(self, data: bytes) -> Any:
        """Work that needs no line numbers and may run in a worker thread."""

    def parse(self, data: bytes, prepared: Any, first_line: int, source: str) -> Parsed:
        """The block's rows and rejects, given what `prepare` returned for it."""


def prepare_ahead(
    items: Iterator[tuple[T, Item | None]], parser: Parser, pool: ThreadPoolExecutor, depth: int
) -> Iterator[tuple[T, Item | None, Any]]:
    """Yield (tag, item, prepared) in order while up to `depth` later blocks are being prepared.

    Items are tagged (land.py tags them with their file's number) so one look-ahead window spans
    file boundaries: a day of ~60 small country files keeps every parse thread busy instead of
    draining the window at the end of each file. None items (file ends) pass through unprepared.
    """
    window: deque[tuple[T, Item | None, Future[Any] | None]] = deque()
    preparing = 0  # blocks in the window: markers and overlong lines take no parse thread
    try:
        for tag, item in items:
            future = pool.submit(parser.prepare, item) if isinstance(item, bytes) else None
            window.append((tag, item, future))
            preparing += future is not None
            while preparing > depth:
                tag_, ready, future = window.popleft()
                preparing -= future is not None
                yield tag_, ready, future.result() if future else None
        while window:
            tag_, ready, future = window.popleft()
            yield tag_, ready, future.result() if future else None
    finally:
        for _, _, future in window:
            if future is not None:
                future.cancel()
