"""Personal data beyond the declared columns: what metadata may show, and undeclared fields.

Two leaks the pseudonymizer alone does not close:

- Metadata. Dagster keeps every materialization's metadata in its event storage, which is not the
  lake and which lake retention did not reach: previews and check samples of a personal table show
  only `shown_columns` (no user id, region, birth year or gender), whatever the privacy settings.
- Undeclared fields. A new field in a personal report lands in `_extra` as JSON; it may be an
  e-mail address as well as a new metric. The declared policy (`EXTRA_POLICY`) for personal tables
  is: each undeclared value becomes a keyed pseudonym when pseudonymization is on, and `_extra` is
  dropped (null) when it is off. Field names are kept (drift stays visible); the landing's
  `unknown_fields` counts them either way.
"""

from __future__ import annotations

import json

import pyarrow as pa
import pyarrow.compute as pc

from pipeline.ingest.landing.privacy import Pseudonymizer
from pipeline.reports import PERSONAL_TABLES, TableSpec

DEMOGRAPHIC = ("birth_year", "gender")  # with country and age, enough to single a listener out
EXTRA = "_extra"
EXTRA_POLICY = "pseudonymize values when pseudonymizing, else drop"


def shown_columns(spec: TableSpec) -> list[str]:
    """Declared columns metadata may show: all of a non-personal table, the non-identifying rest
    of a personal one."""
    hidden = set(spec.personal) | set(spec.location) | set(DEMOGRAPHIC) if spec.personal else set()
    return [f.name for f in spec.fields if f.name not in hidden]


class PersonalData:
    """The landing's treatment of personal data: pseudonyms and region codes, then `_extra`."""

    def __init__(self, pseudonymizer: Pseudonymizer) -> None:
        self.pseudonymizer = pseudonymizer
        self._extras: dict[str, str] = {}

    def apply(self, table: str, rows: pa.Table) -> pa.Table:
        rows = self.pseudonymizer.apply(table, rows)
        if table not in PERSONAL_TABLES or EXTRA not in rows.column_names or not rows.num_rows:
            return rows
        column = rows[EXTRA]
        if column.null_count == len(column):
            return rows
        index = rows.schema.get_field_index(EXTRA)
        if not self.pseudonymizer.privacy.pseudonymize:
            return rows.set_column(index, rows.schema.field(index), pa.nulls(rows.num_rows, pa.string()))
        encoded = pc.dictionary_encode(column.combine_chunks())  # distinct JSON objects, not rows
        cleaned = [self._cleaned(text) for text in encoded.dictionary.to_pylist()]
        values = pa.array(cleaned, pa.string()).take(encoded.indices)
        return rows.set_column(index, rows.schema.field(index), values)

    def _cleaned(self, text: str | None) -> str | None:
        if text is None:
            return None
        cached = self._extras.get(text)
        if cached is None:
            try:
                fields = json.loads(text)
            except ValueError:
                fields = {"_unparsed": text}
            if not isinstance(fields, dict):
                fields = {"_value": fields}
            raw = [json.dumps(v, sort_keys=True, ensure_ascii=False) for v in fields.values()]
            hashed = self.pseudonymizer.pseudonyms(pa.array(raw, pa.string())).to_pylist()
            cached = json.dumps(dict(zip(fields, hashed, strict=True)), separators=(",", ":"))
            if len(self._extras) < 10_000:
                self._extras[text] = cached
        return cached
