"""`spotify-bulk sql`: a read-only SQL prompt over the warehouse, for analysts without a DuckDB CLI.

Statements end with `;` and may span lines; several on a line run one by one. Each runs through
`run_query` (the same read-only check, and a fresh connection, so a build published meanwhile is
seen) and prints as `spotify-bulk query` tables do. `.quit`, `.exit` or end of input leave. The
streams are parameters, so tests need no TTY.
"""

from __future__ import annotations

from typing import TextIO

from pipeline.errors import UsageError
from pipeline.layout import Layout
from pipeline.warehouse.options import WarehouseOptions
from pipeline.warehouse.query import format_table, parse_statements, run_query

PROMPT, CONTINUE = "sql> ", " ..> "
EXITS = frozenset({".quit", ".exit", ".q"})
BANNER = (
    "Read-only SQL over {path}. End statements with ';'. "
    "Try: SHOW TABLES; or DESCRIBE fct_track_performance; (.quit to leave)"
)


def run_shell(
    layout: Layout,
    stdin: TextIO,
    stdout: TextIO,
    *,
    interactive: bool = False,
    options: WarehouseOptions | None = None,
) -> int:
    """Read statements from `stdin` until `.quit` or EOF, printing results or one-line errors.

    Returns the number of statements that failed, so a piped script can be checked.
    """
    failures = 0
    pending: list[str] = []
    if interactive:
        print(BANNER.format(path=layout.warehouse_path), file=stdout)
    while True:
        if interactive:
            stdout.write(CONTINUE if pending else PROMPT)
            stdout.flush()
        line = stdin.readline()
        if not line:  # EOF; an unfinished statement is dropped, as the DuckDB CLI does
            if interactive:
                stdout.write("\n")
            return failures
        if not pending and line.strip().lower() in EXITS:
            return failures
        if not pending and not line.strip():
            continue
        pending.append(line)
        sql = "".join(pending).strip()
        if not sql.endswith(";"):
            continue
        pending.clear()
        failures += _run_each(layout, sql, stdout, options)


def _run_each(layout: Layout, sql: str, stdout: TextIO, options: WarehouseOptions | None) -> int:
    """Run each statement of `sql` and print its rows, as a SQL prompt does; returns the failures."""
    try:
        statements = [s.query for s in parse_statements(sql)]
    except UsageError as exc:
        print(f"error: {exc}", file=stdout)
        return 1
    for statement in statements:
        try:
            print(format_table(run_query(layout, statement, options)), file=stdout)
        except UsageError as exc:
            print(f"error: {exc}", file=stdout)
            return 1  # later statements may depend on this one: stop, as the DuckDB CLI does
    return 0
