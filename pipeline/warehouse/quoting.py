"""The one quoting helper for SQL text that cannot be a parameter (identifiers, paths in DDL).

Values always travel as parameters; only names and file paths inside `CREATE VIEW` (where DuckDB
accepts no parameters) are spliced into SQL, and only through these two functions.
"""

from __future__ import annotations

from pathlib import Path


def quote_identifier(name: str) -> str:
    """`name` as a double-quoted identifier: embedded quotes are doubled, so any text is safe."""
    if not name or "\x00" in name:
        raise ValueError(f"invalid SQL identifier {name!r}: empty or contains NUL")
    return '"' + name.replace('"', '""') + '"'


def quote_literal(value: str | Path) -> str:
    """`value` as a single-quoted string literal (standard SQL: quotes doubled, backslash literal)."""
    text = str(value)
    if "\x00" in text:
        raise ValueError("a SQL string literal cannot contain NUL")
    return "'" + text.replace("'", "''") + "'"


def quote_columns(names: tuple[str, ...] | list[str]) -> str:
    """A comma-separated list of quoted identifiers."""
    return ", ".join(quote_identifier(n) for n in names)
