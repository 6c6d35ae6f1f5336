"""Track ids at landing: every wire form (base62, `spotify:track:` URI, 32-hex gid) -> base62.

Decision: a value that is none of these forms is rejected with its line (reason below), so it is
counted in the rejects file and the reject share, never landed as an id nothing can join, and
never dropped silently. On the fast path the work is vectorized: one RE2 match over the column
decides that a block is all base62 (the usual case); otherwise URIs are stripped in Arrow and only
the distinct values still not base62 (gids, junk) are converted in Python, once each.
"""

from __future__ import annotations

import pyarrow as pa
import pyarrow.compute as pc

from pipeline.ingest.landing.coerce import show
from pipeline.ingest.landing.lines import BadLine
from pipeline.spotify_ids import normalize_track_id

_BASE62 = r"^[0-9A-Za-z]{22}$"
_URI_PREFIX = r"^spotify:track:"
FORMS = "base62, spotify:track: URI or 32-hex gid"

Column = pa.Array | pa.ChunkedArray


class InvalidTrackId(BadLine):
    """A line whose track id is in no known form (counted apart from other rejects)."""


def id_violation(name: str, value: object) -> str:
    """The reject reason of a value that is not a track id (the same on both parse paths)."""
    return f"field {name!r}: {show(value)} is not a Spotify track id ({FORMS})"


def _not_base62(column: Column) -> pa.Array:
    """True where a value is present and not a base62 id."""
    return pc.fill_null(pc.invert(pc.match_substring_regex(column, _BASE62)), False)


def normalize_column(column: Column) -> tuple[Column, pa.Array | None]:
    """(the column with every id in base62, a mask of values that are no id) — None: all were ids.

    Values that are no id are left as they were, for the reject reason.
    """
    if not pc.any(_not_base62(column)).as_py():
        return column, None
    column = column.combine_chunks() if isinstance(column, pa.ChunkedArray) else column
    column = pc.replace_substring_regex(pc.utf8_trim_whitespace(column), _URI_PREFIX, "", max_replacements=1)
    odd = _not_base62(column)
    if not pc.any(odd).as_py():
        return column, None
    encoded = pc.dictionary_encode(column.filter(odd))
    converted = [normalize_track_id(v) for v in encoded.dictionary.to_pylist()]  # distinct values only
    fixed = pa.array(converted, pa.string()).take(encoded.indices)
    invalid = pc.is_null(fixed)
    fixed = pc.if_else(invalid, column.filter(odd), fixed)
    column = pc.replace_with_mask(column, odd, fixed)
    bad = pc.replace_with_mask(pa.repeat(pa.scalar(False), len(column)), odd, invalid)
    return column, (bad if pc.any(bad).as_py() else None)
