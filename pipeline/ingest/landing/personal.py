"""Personal data beyond the declared columns: what metadata may show, and undeclared fields.

Two leaks the pseudonymizer alone does not close:

- Metadata. Dagster keeps every materialization's metadata in its event storage, which is not the
  lake and which lake retention did not reach: previews and check samples of a personal table show
  only `shown_columns` (no user id, region, birth year or gender), whatever the privacy settings.
- Undeclared fields. A new field in a personal report lands in `_extra` as sent; it may be an
  e-mail address as well as a device class. The policy (`EXTRA_POLICY`) for personal tables: when
  pseudonymization is off (the user chose raw ids) `_extra` is kept as sent; when it is on, each
  undeclared value becomes a keyed pseudonym unless the user lists the field as not personal
  (`not_personal` in the field map, `names.py`), whose values stay byte-exact. Field names are
  always kept and always reported as drift (`unknown_fields`).
"""

from __future__ import annotations

import json
from collections.abc import Mapping

import pyarrow as pa
import pyarrow.compute as pc

from pipeline.ingest.landing.drift import EXTRA, NotAnObject, members
from pipeline.ingest.landing.privacy import Pseudonymizer
from pipeline.reports import PERSONAL_TABLES, TableSpec

DEMOGRAPHIC = ("birth_year", "gender")  # with country and age, enough to single a listener out
EXTRA_POLICY = "kept as sent; values pseudonymized when pseudonymizing, except fields listed not_personal"


def shown_columns(spec: TableSpec) -> list[str]:
    """Declared columns metadata may show: all of a non-personal table, the non-identifying rest
    of a personal one."""
    hidden = set(spec.personal) | set(spec.location) | set(DEMOGRAPHIC) if spec.personal else set()
    return [f.name for f in spec.fields if f.name not in hidden]


class PersonalData:
    """The landing's treatment of personal data: pseudonyms and region codes, then `_extra`."""

    def __init__(
        self, pseudonymizer: Pseudonymizer, not_personal: Mapping[str, frozenset[str]] | None = None
    ) -> None:
        self.pseudonymizer = pseudonymizer
        self.not_personal = dict(not_personal or {})  # table -> undeclared fields kept as sent
        self._extras: dict[tuple[str, str], str] = {}

    def apply(self, table: str, rows: pa.Table) -> pa.Table:
        rows = self.pseudonymizer.apply(table, rows)
        if table not in PERSONAL_TABLES or EXTRA not in rows.column_names or not rows.num_rows:
            return rows
        if not self.pseudonymizer.privacy.pseudonymize:
            return rows  # raw ids were chosen: undeclared fields stay as sent too
        column = rows[EXTRA]
        if column.null_count == len(column):
            return rows
        index = rows.schema.get_field_index(EXTRA)
        encoded = pc.dictionary_encode(column.combine_chunks())  # distinct JSON objects, not rows
        kept = self.not_personal.get(table, frozenset())
        cleaned = [self._cleaned(table, text, kept) for text in encoded.dictionary.to_pylist()]
        values = pa.array(cleaned, pa.string()).take(encoded.indices)
        return rows.set_column(index, rows.schema.field(index), values)

    def _cleaned(self, table: str, text: str | None, kept: frozenset[str]) -> str | None:
        """`_extra` with each value not listed in `kept` replaced by its pseudonym (names as sent)."""
        if text is None:
            return None
        cached = self._extras.get((table, text))
        if cached is None:
            try:
                fields = members(text)
            except NotAnObject:
                fields = {"_unparsed": ('"_unparsed"', json.dumps(text))}
            hidden = [name for name in fields if name not in kept]
            raw = [
                json.dumps(json.loads(fields[name][1]), sort_keys=True, ensure_ascii=False) for name in hidden
            ]
            hashed = dict(
                zip(
                    hidden, self.pseudonymizer.pseudonyms(pa.array(raw, pa.string())).to_pylist(), strict=True
                )
            )
            parts = [
                f"{key}:{value if name in kept else json.dumps(hashed[name])}"
                for name, (key, value) in fields.items()
            ]
            cached = "{" + ",".join(parts) + "}"
            if len(self._extras) < 10_000:
                self._extras[(table, text)] = cached
        return cached
