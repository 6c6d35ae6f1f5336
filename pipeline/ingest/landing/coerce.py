"""Per-field casts for the slow path: accept a value only when the cast loses nothing.

The fast path (Arrow's JSON reader) is strict about JSON types; a block it refuses is re-read line
by line with these coercers, so "123" still lands as 123 and only truly bad values are rejected.
Booleans take the forms the registry declares per field (`BooleanForms`: "Y"/"N" for stream flags).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pyarrow as pa

from pipeline.reports import TEXT_BOOLEANS, BooleanForms

Coercer = Callable[[Any], Any]

_INT_TEXT = re.compile(r"[+-]?[0-9]{1,20}")


class Uncastable(ValueError):
    """A value that cannot be cast to its declared type without loss."""


def show(value: Any, limit: int = 80) -> str:
    """A short JSON rendering of a bad value for a reject reason."""
    try:
        text = json.dumps(value, ensure_ascii=False)
        text.encode("utf-8")
    except UnicodeEncodeError:  # lone surrogates: show them escaped
        text = json.dumps(value)
    except (TypeError, ValueError):
        text = repr(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _string(value: Any) -> str:
    if isinstance(value, str):
        if not value.isascii():
            try:
                value.encode("utf-8")  # lone surrogates from "\ud800" escapes cannot be stored
            except UnicodeEncodeError as exc:
                raise Uncastable("not valid Unicode") from exc
        return value
    if type(value) is int:
        return str(value)
    raise Uncastable


def _integer(bits: int, *, signed: bool) -> Coercer:
    low, high = (-(1 << (bits - 1)), (1 << (bits - 1)) - 1) if signed else (0, (1 << bits) - 1)

    def cast(value: Any) -> int:
        if type(value) is int:
            result = value
        elif (type(value) is float and value.is_integer()) or (
            isinstance(value, str) and _INT_TEXT.fullmatch(value)
        ):
            result = int(value)
        else:
            raise Uncastable
        if not low <= result <= high:
            raise Uncastable("out of range")
        return result

    return cast


def _boolean(forms: BooleanForms) -> Coercer:
    """JSON booleans, and the text and number forms the registry declares for the field."""
    table = forms.lookup()

    def cast(value: Any) -> bool:
        if type(value) is bool:
            return value
        key = value.lower() if isinstance(value, str) else value if type(value) is int else None
        found = table.get(key) if key is not None else None
        if found is None:
            raise Uncastable
        return found

    return cast


def _timestamp(value: Any) -> datetime:
    if not isinstance(value, str):
        raise Uncastable  # epoch numbers are ambiguous (s, ms, us?): never guess
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError as exc:
        raise Uncastable from exc
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


def _floating(value: Any) -> float:
    if type(value) in (int, float):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError as exc:
            raise Uncastable from exc
    raise Uncastable


def _list_of(item: Coercer) -> Coercer:
    def cast(value: Any) -> list[Any]:
        if not isinstance(value, list):
            raise Uncastable
        return [None if v is None else item(v) for v in value]

    return cast


def coercer_for(dtype: pa.DataType, booleans: BooleanForms = TEXT_BOOLEANS) -> Coercer:
    """The lossless cast for one Arrow type (a boolean in `booleans`' forms); identity for types the
    registry does not use."""
    if pa.types.is_string(dtype) or pa.types.is_large_string(dtype):
        return _string
    if pa.types.is_integer(dtype):
        return _integer(dtype.bit_width, signed=pa.types.is_signed_integer(dtype))
    if pa.types.is_boolean(dtype):
        return _boolean(booleans)
    if pa.types.is_timestamp(dtype):
        return _timestamp
    if pa.types.is_floating(dtype):
        return _floating
    if pa.types.is_list(dtype) or pa.types.is_large_list(dtype):
        return _list_of(coercer_for(dtype.value_type))
    return lambda value: value
