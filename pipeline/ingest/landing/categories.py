"""Categorical values normalized where the meaning is the same, identically on every path.

Real files spell some categories differently from the wire contract: a public production client
sees gender in upper case (`MALE`, `FEMALE`, `NEUTRAL`) and age buckets such as `60-150`. Gender is
lower-cased and `neutral` is the contract's `non_binary`; age-bucket labels are trimmed of spaces,
`_` and en dashes read as `-`, and an open top bucket (`60+`) is the contract's `60-150`. Values of
no known spelling are kept as sent (lower-cased for gender): nothing is invented or dropped.
Sources are not normalized at landing: an unknown source (`play_queue`) is kept as sent, and the
marts count every source they do not group as `other`.
"""

from __future__ import annotations

import re

import pyarrow as pa
import pyarrow.compute as pc

from pipeline.reports import AGE_GROUPS

GENDER_SYNONYMS = {"neutral": "non_binary", "nonbinary": "non_binary", "non-binary": "non_binary"}
_OPEN_TOP = {f"{group.split('-')[0]}+": group for group in AGE_GROUPS if group.endswith("-150")}
_DASHES = re.compile(r"\s*[-_\u2013\u2014]\s*")


def gender(value: str) -> str:
    """`MALE` -> `male`, `NEUTRAL` -> `non_binary`; anything else lower-cased."""
    lowered = value.strip().lower()
    return GENDER_SYNONYMS.get(lowered, lowered)


def age_group(value: str) -> str:
    """`18_22` or `18 – 22` -> `18-22`, `60+` -> `60-150`; `UNKNOWN` -> `unknown`; else as sent."""
    text = _DASHES.sub("-", value.strip()).lower()
    return _OPEN_TOP.get(text, text)


NORMALIZERS = {"gender": gender, "age_group": age_group}


def normalize_values(kind: str, column: pa.ChunkedArray) -> pa.ChunkedArray:
    """`NORMALIZERS[kind]` over a string column, once per distinct value."""
    encoded = pc.dictionary_encode(column).combine_chunks()
    mapped = [None if v is None else NORMALIZERS[kind](v) for v in encoded.dictionary.to_pylist()]
    return pa.chunked_array([pa.array(mapped, pa.string()).take(encoded.indices)], pa.string())
