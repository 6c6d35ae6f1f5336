"""Schema drift: fields the registry does not declare are kept per row, byte-exact, in `_extra`.

`_extra` is a JSON object of each undeclared field's *original JSON text* as the line sent it: a
number like 12345678901234567890 or a timestamp string is never re-typed through a float or a
datetime. Both parse paths build it from the raw line with `members` (the stdlib's C scanner finds
where each top-level value ends), and only for lines that carry drift, so clean data never pays.
A field whose value is `null` is not drift (the fast path cannot tell it from an absent one).
"""

from __future__ import annotations

import json
import re
from collections.abc import Collection
from json.decoder import scanstring

EXTRA = "_extra"
_DECODER = json.JSONDecoder()
_WHITESPACE = re.compile(r"[ \t\n\r]*")


class NotAnObject(ValueError):
    """The text is not one JSON object (the caller treats the line as a bad line)."""


def members(text: str) -> dict[str, tuple[str, str]]:
    """Field name -> (its key's original text, its value's original text), for a JSON object line.

    A repeated key keeps its first position and its last value, as `json.loads` does.
    """
    skip = _WHITESPACE.match
    scan = _DECODER.scan_once
    try:
        at = skip(text, 0).end()
        if text[at] != "{":
            raise NotAnObject("not an object")
        at = skip(text, at + 1).end()
        out: dict[str, tuple[str, str]] = {}
        if text[at] == "}":
            return out
        while True:
            if text[at] != '"':
                raise NotAnObject("expected a key")
            name, after = scanstring(text, at + 1)
            key = text[at:after]
            at = skip(text, after).end()
            if text[at] != ":":
                raise NotAnObject("expected ':'")
            at = skip(text, at + 1).end()
            _, end = scan(text, at)
            out[name] = (key, text[at:end])
            at = skip(text, end).end()
            if text[at] == "}":
                return out
            if text[at] != ",":
                raise NotAnObject("expected ','")
            at = skip(text, at + 1).end()
    except (IndexError, StopIteration, ValueError) as exc:
        raise NotAnObject(str(exc)) from None


def extra_text(text: str, known: Collection[str]) -> str | None:
    """The `_extra` JSON object of one line: its undeclared, non-null members as sent; None if none."""
    kept = [
        f"{key}:{value}"
        for name, (key, value) in members(text).items()
        if name not in known and value != "null"
    ]
    return "{" + ",".join(kept) + "}" if kept else None
