"""Schema drift: fields the registry does not declare are kept per row as a JSON object.

Built with polars expressions over whole columns, and only for blocks that carry drift, so the
fast path never pays for it on clean data.
"""

from __future__ import annotations

import json

import polars as pl
import pyarrow as pa
import pyarrow.compute as pc

EXTRA = "_extra"


def extra_json(extra: pa.Table) -> pa.Array:
    """Per row, a compact JSON object of the non-null columns of `extra` (null when none)."""
    try:
        return _vectorized(extra)
    except (pl.exceptions.PolarsError, pa.ArrowException):  # exotic types: fall back to rows
        rows = extra.to_pylist()
        texts = [
            json.dumps(kept, ensure_ascii=False, separators=(",", ":"), default=str)
            if (kept := {k: v for k, v in row.items() if v is not None})
            else None
            for row in rows
        ]
        return pa.array(texts, pa.string())


def _vectorized(extra: pa.Table) -> pa.Array:
    columns = {}
    for position, column in enumerate(extra.columns):
        if pa.types.is_timestamp(column.type):  # Arrow inferred it from an ISO string: keep text
            column = pc.strftime(column, format="%Y-%m-%dT%H:%M:%S")
        columns[f"c{position}"] = column  # positional names: field names may look like regexes
    frame = pl.from_arrow(pa.table(columns), rechunk=False)
    assert isinstance(frame, pl.DataFrame)
    members = []
    for position, name in enumerate(extra.column_names):
        column = pl.col(f"c{position}")
        encoded = pl.struct(column.alias(name)).struct.json_encode()
        member = encoded.str.strip_prefix("{").str.strip_suffix("}")
        members.append(pl.when(column.is_not_null()).then(member))
    body = pl.concat_str(members, separator=",", ignore_nulls=True)
    wrapped = pl.when(body != "").then(pl.concat_str([pl.lit("{"), body, pl.lit("}")]))
    return frame.select(wrapped.alias(EXTRA)).to_series().to_arrow().cast(pa.string())
