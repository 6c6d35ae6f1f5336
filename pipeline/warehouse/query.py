"""Read-only queries of the published warehouse, and the output formats of `spotify-bulk query`.

Only statements that read (SELECT, including DESCRIBE/SHOW/SUMMARIZE, and EXPLAIN) are accepted,
checked with DuckDB's own parser, and the catalog is opened `read_only=True` on top of that.
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass
from datetime import date, datetime, time
from decimal import Decimal
from typing import Any

import duckdb

from pipeline.errors import UsageError
from pipeline.layout import Layout
from pipeline.warehouse.catalog import open_catalog
from pipeline.warehouse.options import WarehouseOptions

READ_STATEMENTS = frozenset({duckdb.StatementType.SELECT, duckdb.StatementType.EXPLAIN})
FORMATS = ("table", "csv", "json")


class ReadOnlyError(UsageError):
    """The SQL would change something; the warehouse is read-only for queries."""


@dataclass(frozen=True)
class QueryResult:
    columns: tuple[str, ...]
    rows: list[tuple[Any, ...]]


def parse_statements(sql: str) -> list[duckdb.Statement]:
    """The statements of `sql`, split by DuckDB's own parser (a parse error is a `UsageError`)."""
    try:
        with duckdb.connect(":memory:") as parser:
            return parser.extract_statements(sql)
    except duckdb.Error as exc:
        raise UsageError(f"the SQL does not parse: {exc}") from None


def check_read_only(sql: str) -> None:
    """Refuse anything but reads, with the offending statement named."""
    statements = parse_statements(sql)
    if not statements:
        raise UsageError("no SQL statement given")
    for statement in statements:
        if statement.type not in READ_STATEMENTS:
            kind = statement.type.name
            raise ReadOnlyError(
                f"refused: the warehouse is read-only and this is a {kind} statement "
                f"({statement.query.strip()[:60]!r}); only SELECT, WITH, DESCRIBE, SHOW, SUMMARIZE and "
                "EXPLAIN are allowed. Models are changed in sql/ and rebuilt with `spotify-bulk build`."
            )


def connect_readonly(layout: Layout, options: WarehouseOptions | None = None) -> duckdb.DuckDBPyConnection:
    """A read-only connection to the published catalog (never blocks, never blocks a build), with
    the settings' memory limit and threads (`options`)."""
    path = layout.warehouse_path
    if not path.exists():
        raise UsageError(f"no warehouse at {path}: run `spotify-bulk build` first")
    return open_catalog(path, options)


def run_query(layout: Layout, sql: str, options: WarehouseOptions | None = None) -> QueryResult:
    """Run read-only SQL against the warehouse; the last statement's rows are returned."""
    check_read_only(sql)
    con = connect_readonly(layout, options)
    try:
        cursor = con.execute(sql)
        columns = tuple(d[0] for d in cursor.description or ())
        return QueryResult(columns, cursor.fetchall() if columns else [])
    except duckdb.Error as exc:
        raise UsageError(str(exc).strip()) from None
    finally:
        con.close()


RATE_SUFFIXES = ("_rate", "_share", "_pct")


def is_rate(column: str) -> bool:
    """Columns holding a fraction (`skip_rate`, `sub30_share`, `share`, `..._pct`), as the marts name them."""
    return column == "share" or column.endswith(RATE_SUFFIXES)


def _percent(value: Any) -> str:
    """A fraction as people read it, the way the dashboard shows it: 0.0925 -> `9.3%`."""
    if isinstance(value, float | Decimal) and value == value:
        return f"{float(value):,.1%}"
    return _cell(value)


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float | Decimal):
        return f"{value:,.4f}".rstrip("0").rstrip(".") if value == value else "NaN"
    if isinstance(value, datetime | date | time):
        return value.isoformat()
    if isinstance(value, list | tuple):
        return ", ".join(_cell(v) for v in value)
    return str(value)


def format_table(result: QueryResult) -> str:
    """Aligned columns, numbers right-aligned with thousands separators, rates as percentages, and a
    row count (csv and json keep the raw fractions for other programs)."""
    cell = [_percent if is_rate(c) else _cell for c in result.columns]
    cells = [[fmt(v) for fmt, v in zip(cell, row, strict=True)] for row in result.rows]
    numeric = [
        any(row[i] is not None for row in result.rows)
        and all(
            row[i] is None or (isinstance(row[i], int | float | Decimal) and not isinstance(row[i], bool))
            for row in result.rows
        )
        for i in range(len(result.columns))
    ]
    widths = [max([len(c)] + [len(row[i]) for row in cells]) for i, c in enumerate(result.columns)]

    def line(values: list[str]) -> str:
        parts = [v.rjust(w) if num else v.ljust(w) for v, w, num in zip(values, widths, numeric, strict=True)]
        return "  ".join(parts).rstrip()

    out = [line(list(result.columns)), "  ".join("-" * w for w in widths)]
    out += [line(row) for row in cells]
    out.append(f"({len(result.rows):,} row{'s' if len(result.rows) != 1 else ''})")
    return "\n".join(out)


def format_csv(result: QueryResult) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(result.columns)
    for row in result.rows:
        writer.writerow(
            ["" if v is None else v.isoformat() if isinstance(v, date | time) else v for v in row]
        )
    return buffer.getvalue().rstrip("\n")


def _json_value(value: Any) -> Any:
    if isinstance(value, datetime | date | time):
        return value.isoformat()
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, list | tuple):
        return [_json_value(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _json_value(v) for k, v in value.items()}
    return value if isinstance(value, str | int | float | bool) or value is None else str(value)


def format_json(result: QueryResult) -> str:
    """A JSON array of objects, one per row."""
    records = [{c: _json_value(v) for c, v in zip(result.columns, row, strict=True)} for row in result.rows]
    return json.dumps(records, indent=2, ensure_ascii=False)


def format_result(result: QueryResult, fmt: str) -> str:
    formatters = {"table": format_table, "csv": format_csv, "json": format_json}
    if fmt not in formatters:
        raise UsageError(f"unknown format {fmt!r}: use one of {', '.join(FORMATS)}")
    return formatters[fmt](result)


TOP_TRACKS_SQL = """
SELECT
    row_number() OVER (ORDER BY sum(p.streams) DESC, p.licensor, p.track_id) AS rank,
    p.licensor,
    coalesce(any_value(d.track_name), any_value(p.track_name), p.track_id) AS track,
    coalesce(any_value(d.artists), any_value(p.artists)) AS artists,
    sum(p.streams) AS streams,
    sum(p.sub30_streams) / nullif(sum(p.streams) + sum(p.sub30_streams), 0) AS sub30_share,
    sum(p.skips) / nullif(sum(p.streams), 0) AS skip_rate,
    sum(p.saves) / nullif(sum(p.streams), 0) AS save_rate
FROM fct_track_performance AS p
LEFT JOIN dim_tracks AS d USING (licensor, track_id)
GROUP BY p.licensor, p.track_id
ORDER BY rank
LIMIT $limit
"""


def top_tracks_table(layout: Layout, limit: int = 10, options: WarehouseOptions | None = None) -> str:
    """The most-streamed tracks over everything built, as a printable table (the demo's last word)."""
    con = connect_readonly(layout, options)
    try:
        span = con.execute("SELECT min(date), max(date) FROM fct_track_performance").fetchone()
        cursor = con.execute(TOP_TRACKS_SQL, {"limit": limit})
        result = QueryResult(tuple(d[0] for d in cursor.description or ()), cursor.fetchall())
    finally:
        con.close()
    if not span or span[0] is None:
        return "No tracks yet: the warehouse has no streams (load some days, then `spotify-bulk build`)."
    title = f"Top {limit} tracks by streams, {span[0]:%Y-%m-%d}..{span[1]:%Y-%m-%d} (fct_track_performance)"
    return f"{title}\n{format_table(result)}"


# Streamed tracks (any length) and those the track performance mart names, with their artists, every day.
_NAMED_SHARE_SQL = """
WITH streamed AS (
    SELECT DISTINCT licensor, track_id FROM stg_streams
    UNION
    SELECT DISTINCT licensor, track_id FROM stg_sub30_streams
),
named AS (
    SELECT licensor, track_id
    FROM fct_track_performance
    GROUP BY licensor, track_id
    HAVING bool_and(track_name IS NOT NULL AND track_name <> '' AND artists IS NOT NULL AND artists <> '')
)
SELECT count(*), count(n.track_id)
FROM streamed AS s
LEFT JOIN named AS n ON n.licensor = s.licensor AND n.track_id = s.track_id
"""


def named_tracks(layout: Layout, options: WarehouseOptions | None = None) -> tuple[int, int]:
    """(streamed tracks, of which the marts give a name and artists) in the published warehouse."""
    con = connect_readonly(layout, options)
    try:
        row = con.execute(_NAMED_SHARE_SQL).fetchone()
    finally:
        con.close()
    return (int(row[0]), int(row[1])) if row else (0, 0)
