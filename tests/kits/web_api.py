"""A Web API client on the emulator for the enrichment tests."""

from __future__ import annotations

import pyarrow as pa

from pipeline.clients import WebApiClient
from pipeline.clients.http import RetryPolicy
from pipeline.emulator import RunningEmulator
from pipeline.enrichment import CATALOG_TABLES
from pipeline.layout import Layout
from tests.kits.fake_lake import lake_tables, read_lake
from tests.kits.settings import split_connection


def web_client(emu: RunningEmulator, **overrides: object) -> WebApiClient:
    """A Web API client on the emulator; a generous budget unless the test sets one."""
    options: dict[str, object] = {
        "base_url": emu.web_api_url,
        "accounts_url": emu.accounts_url,
        "client_id": emu.config.client_id,
        "client_secret": emu.config.client_secret,
        "timeout": 10.0,
        "rate_limit": 10_000,
        "retry": RetryPolicy(max_attempts=5, base_delay=0.05, max_delay=0.2),
    }
    options.update(overrides)
    connection, rest = split_connection(options)
    return WebApiClient(connection, **rest)  # type: ignore[arg-type]


def lake_values(layout: Layout, tables: tuple[str, ...], column: str) -> set[object]:
    """Every distinct value of `column` across the given lake tables (the ids enrichment should ask)."""
    values: set[object] = set()
    for table in tables:
        values |= {row[column] for row in read_lake(layout, table)}
    return values


def catalog_rows(layout: Layout, name: str) -> pa.Table:
    """The current rows of catalog table `name` (Iceberg), sorted by its key; none if never written."""
    table = CATALOG_TABLES[name]
    lake = lake_tables(layout)
    if lake.load(name) is None:
        return table.stored_schema.empty_table()
    keys = [table.key, *([table.partition.name] if table.partition is not None else [])]
    return lake.read(name).sort_by([(key, "ascending") for key in keys])
