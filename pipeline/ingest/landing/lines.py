"""Line-by-line reading shared by the slow path of flat reports and by aggregated streams."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any, Literal, overload

_BOM = b"\xef\xbb\xbf"


class BadLine(ValueError):
    """A line that cannot become a record; the message is the reject reason."""


def split_block(data: bytes, first_line: int) -> tuple[int, Iterator[tuple[int, bytes]]]:
    """(lines in the block, iterator of (line number, raw line) for its non-blank lines)."""
    lines = data.split(b"\n")
    if data.endswith(b"\n"):
        lines.pop()
    if first_line == 1 and lines:
        lines[0] = lines[0].removeprefix(_BOM)

    def numbered() -> Iterator[tuple[int, bytes]]:
        for offset, raw in enumerate(lines):
            if raw.strip():  # blank lines count for numbering only
                yield first_line + offset, raw

    return len(lines), numbered()


@overload
def load_object(raw: bytes, max_line_bytes: int) -> dict[str, Any]: ...
@overload
def load_object(
    raw: bytes, max_line_bytes: int, *, with_text: Literal[True]
) -> tuple[dict[str, Any], str]: ...
def load_object(raw: bytes, max_line_bytes: int, *, with_text: bool = False) -> Any:
    """The JSON object on one line (and the line's text, `with_text`), or BadLine saying why not."""
    if len(raw) > max_line_bytes:
        raise BadLine(f"line longer than {max_line_bytes:,} bytes ({len(raw):,})")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise BadLine(f"invalid UTF-8 at byte {exc.start}") from None
    try:
        record = json.loads(text)
    except json.JSONDecodeError as exc:
        raise BadLine(f"malformed JSON: {exc.msg} at column {exc.colno}") from None
    except RecursionError:
        raise BadLine("malformed JSON: nested too deeply") from None
    if not isinstance(record, dict):
        raise BadLine(f"not a JSON object but {type(record).__name__}")
    return (record, text) if with_text else record
