"""The one quoting helper: any identifier or path round-trips through DuckDB unchanged."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from pipeline.warehouse.quoting import quote_columns, quote_identifier, quote_literal

AWKWARD = [
    "plain",
    "with space",
    'quote"inside',
    "apostrophe's",
    "semi;colon--dash",
    "ünïcode",
    'a""b',
    "x'); DROP TABLE t; --",
]


@pytest.mark.parametrize("name", AWKWARD)
def test_identifiers_round_trip(name: str):
    con = duckdb.connect()
    con.execute(f"CREATE TABLE {quote_identifier(name)} ({quote_identifier(name)} INTEGER)")
    con.execute(f"INSERT INTO {quote_identifier(name)} VALUES (7)")
    row = con.execute(f"SELECT {quote_identifier(name)} FROM {quote_identifier(name)}").fetchone()
    assert row == (7,)
    assert con.execute("SELECT table_name FROM information_schema.tables").fetchall() == [(name,)]


@pytest.mark.parametrize("text", [*AWKWARD, "back\\slash", "new\nline", ""])
def test_literals_round_trip(text: str):
    assert duckdb.connect().execute(f"SELECT {quote_literal(text)}").fetchone() == (text,)


def test_paths_with_quotes_read_parquet(tmp_path: Path):
    odd = tmp_path / 'it\'s a "dir"'
    odd.mkdir()
    pq.write_table(pa.table({"x": [1, 2]}), odd / "f.parquet")
    con = duckdb.connect()
    con.execute(f"CREATE VIEW v AS SELECT * FROM read_parquet({quote_literal(odd / 'f.parquet')})")
    assert con.execute("SELECT sum(x) FROM v").fetchone() == (3,)


def test_nul_and_empty_are_refused():
    with pytest.raises(ValueError):
        quote_identifier("")
    with pytest.raises(ValueError):
        quote_identifier("a\x00b")
    with pytest.raises(ValueError):
        quote_literal("a\x00b")
    assert quote_columns(["a", 'b"c']) == '"a", "b""c"'
