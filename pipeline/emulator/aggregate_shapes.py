"""The coded Aggregated Streams shape, as a public production client of the Bulk API reads it.

Country codes sit directly under `streams`, genders (upper case, `NEUTRAL` for non-binary) and age
buckets directly under each country, with a `"total"` key at every level and no `country`, `gender`
or `age` level names; `skips` and `saves` follow suit (plans directly under a country's saves), and
`listeners` stays at the top. It is the nested record rewritten, so it reconciles exactly like it:
the same cells, the same totals.
"""

from __future__ import annotations

import json
from typing import Any

WIRE_GENDERS = {"female": "FEMALE", "male": "MALE", "non_binary": "NEUTRAL", "unknown": "UNKNOWN"}


def coded_line(nested_line: str) -> str:
    """The NDJSON line of a nested-shape record (`aggregate.record_line`) in the coded shape."""
    record = json.loads(nested_line)
    record.pop("licensor", None)
    record["streams"] = {
        "total": record["streams"]["total"],
        **{code: _coded_country(country) for code, country in record["streams"]["country"].items()},
    }
    record["skips"] = {"total": record["skips"]["total"], **record["skips"]["country"]}
    saves = record["saves"]
    record["saves"] = {
        "total": saves["total"],
        **{code: {"total": c["total"], **c.get("product", {})} for code, c in saves["country"].items()},
    }
    return json.dumps(record, separators=(",", ":"), ensure_ascii=False) + "\n"


def _coded_country(country: dict[str, Any]) -> dict[str, Any]:
    genders = {
        WIRE_GENDERS[name]: {"total": gender["total"], **gender.get("age", {})}
        for name, gender in country.get("gender", {}).items()
    }
    return {"total": country["total"], **genders}
