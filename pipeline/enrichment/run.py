"""One enrichment pass for one kind of catalog object: ids due -> Web API -> lake tables + state.

Incremental: an id is asked only if it was never asked or was last asked longer than the TTL ago
(default 7 days), found or not, so unknown ids are remembered rather than retried every run. What
was fetched is written even when some batches failed; the failure is raised afterwards, so a retry
continues where this pass stopped. A 403 for an optional kind (audio features, refused to
development-mode apps) is remembered for the TTL too: passes within it ask nothing and report the
kind unavailable. Plain Python: the Dagster assets and tests call it alike.
"""

from __future__ import annotations

import json
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pyarrow as pa

from pipeline.clients import BatchResult, Forbidden, InvalidAnswer, WebApiClient
from pipeline.clients.http import ApiStatusError, RetriesExhausted
from pipeline.clients.session import AuthError
from pipeline.clients.web_records import columns
from pipeline.config import tables_for
from pipeline.enrichment.ids import wanted_ids
from pipeline.enrichment.store import count_rows, due_ids, read_state, state_rows, upsert
from pipeline.enrichment.tables import (
    ARTISTS_DAILY,
    CATALOG_ALBUMS,
    CATALOG_ARTISTS,
    CATALOG_AUDIO_FEATURES,
    CATALOG_PLAYLISTS,
    CATALOG_TRACKS,
    PLAYLISTS_DAILY,
    STATE,
    TRACKS_DAILY,
    CatalogTable,
    lookup_path,
    refused_path,
)
from pipeline.layout import Layout
from pipeline.storage.atomic import atomic_write_bytes, exclusive_lock
from pipeline.storage.catalog_lock import lake_commit_lock
from pipeline.storage.migrate import refuse_legacy
from pipeline.storage.tables import TableLake

DEFAULT_TTL = timedelta(days=7)
BATCH_PROBE_INTERVAL = timedelta(days=7)  # how long a batch endpoint's 403 is trusted
Fetch = Callable[[WebApiClient, list[str]], Awaitable[BatchResult[Any]]]


@dataclass(frozen=True)
class Kind:
    """A kind of catalog object: where it lands, how it is fetched, whether it keeps daily history."""

    name: str
    table: CatalogTable
    fetch: Fetch
    daily: CatalogTable | None = None
    optional: bool = False  # a 403 means "not available to this app", not a failure


KINDS: dict[str, Kind] = {
    k.name: k
    for k in (
        Kind("tracks", CATALOG_TRACKS, lambda c, ids: c.tracks(ids), TRACKS_DAILY),
        Kind("albums", CATALOG_ALBUMS, lambda c, ids: c.albums(ids)),
        Kind("artists", CATALOG_ARTISTS, lambda c, ids: c.artists(ids), ARTISTS_DAILY),
        Kind("playlists", CATALOG_PLAYLISTS, lambda c, ids: c.playlists(ids), PLAYLISTS_DAILY),
        Kind("audio_features", CATALOG_AUDIO_FEATURES, lambda c, ids: c.audio_features(ids), optional=True),
    )
}
NULLED_SAMPLE = 10
# Albums and artists take ids from the catalog's tracks, so tracks go first.
ORDER = ("tracks", "albums", "artists", "playlists", "audio_features")


@dataclass(frozen=True)
class EnrichResult:
    """What one pass did: ids wanted, due and asked; what came back; requests; rows now in the table."""

    kind: str
    table: str  # the current table's name in the lake namespace
    wanted: int
    requested: int
    found: int
    not_found: int
    invalid: int
    failed: int
    requests: int  # HTTP requests to the Web API, retries included
    rows: int  # rows in the current table after the pass
    history_rows: int  # rows in today's daily partition after the pass (0 without history)
    seconds: float
    available: bool = True  # False when the endpoint answered 403 (optional kinds only)
    history_day: date | None = None  # the daily table's partition this pass wrote, if any
    lookup: str = "batch"  # "single" when the kind was asked one id per request (development mode)
    malformed_ids: int = 0  # distinct lake values where an id belongs but none is: not asked
    malformed_sample: tuple[str, ...] = ()
    # Values the Web API sent that cannot be true or do not fit the column (wrong type, out of range):
    # stored as null, each warned about by kind, id and field; how many, and the first few.
    nulled_values: int = 0
    nulled_sample: tuple[str, ...] = ()


class EnrichmentFailed(Exception):
    """Some batches failed; what succeeded was kept. `permanent` says whether a retry can help."""

    def __init__(self, message: str, result: EnrichResult, *, permanent: bool) -> None:
        super().__init__(message)
        self.result = result
        self.permanent = permanent


def _permanent(error: BaseException) -> bool:
    if isinstance(error, RetriesExhausted):
        return False
    return isinstance(error, AuthError | Forbidden | InvalidAnswer | ApiStatusError)


def _refused_since(path: Path, cutoff: datetime) -> bool:
    """Whether the file records a 403 after `cutoff` (a missing or unreadable file: no)."""
    try:
        refused_at = datetime.fromisoformat(json.loads(path.read_text(encoding="utf-8"))["refused_at"])
        return refused_at > cutoff
    except (OSError, ValueError, KeyError, TypeError):
        return False


def _remember_lookup(path: Path, client: WebApiClient, kind: str, now: datetime, *, remembered: bool) -> None:
    """Keep the app's mode for `kind` across runs: a fresh batch refusal is written down (runs ask one
    id per request until it is a week old, then probe the batch endpoint again); a batch that worked
    clears it."""
    mode = client.kind_modes.get(kind)
    if mode == "single" and client.mode == "auto" and not remembered:
        atomic_write_bytes(path, json.dumps({"refused_at": now.isoformat()}).encode())
    elif mode == "batch":
        path.unlink(missing_ok=True)


def _rows(kind: Kind, records: tuple[Any, ...], at: datetime) -> pa.Table:
    """Records as rows of the kind's table: `id` -> key, `name` -> `<entity>_name`, `extra` -> `_extra`."""
    key = kind.table.key
    rename = {"id": key, "name": key.removesuffix("_id") + "_name", "extra": "_extra"}
    rows = [{rename.get(k, k): v for k, v in columns(r).items()} | {"fetched_at": at} for r in records]
    return pa.Table.from_pylist(rows, schema=kind.table.schema)


async def enrich(
    kind_name: str,
    client: WebApiClient,
    layout: Layout,
    *,
    now: datetime | None = None,
    ttl: timedelta = DEFAULT_TTL,
    max_ids: int | None = None,
    tables: TableLake | None = None,
) -> EnrichResult:
    """Fetch the due ids of one kind and land them; `max_ids` caps the ids asked in this pass.

    `tables`: the lake's Iceberg tables (default: the data directory's as configured).
    """
    refuse_legacy(layout)  # a pass over old catalog files would refetch all, then migrate undo it
    kind = KINDS[kind_name]
    now = now or datetime.now(UTC)
    started, requests_before = time.monotonic(), client.requests_made
    lake = tables or tables_for(layout.data_dir)
    with exclusive_lock(layout.locks_root / f"catalog-{kind.name}.lock"):
        found = wanted_ids(kind.name, lake)
        wanted = sorted(found.ids)
        due = due_ids(wanted, read_state(lake, kind.name), now, ttl)[:max_ids]
        refused = refused_path(layout, kind.name)
        available = not (kind.optional and _refused_since(refused, now - ttl))
        lookup = lookup_path(layout, kind.name)
        remembered = _refused_since(lookup, now - BATCH_PROBE_INTERVAL)  # batch refused this week
        if remembered:
            client.assume_single(kind.name)
        try:
            batch = await kind.fetch(client, due) if due and available else BatchResult()
        except Forbidden:
            if not kind.optional:
                raise
            batch, available = BatchResult(), False
            atomic_write_bytes(refused, json.dumps({"refused_at": now.isoformat()}).encode())
        else:
            if available and due:
                refused.unlink(missing_ok=True)  # allowed again (or never refused)
                _remember_lookup(lookup, client, kind.name, now, remembered=remembered)
        problems = [problem for record in batch.found for problem in record.problems]
        rows = _rows(kind, batch.found, now)
        history_day = now.date() if kind.daily is not None and len(rows) else None
        state = pa.concat_tables(
            [
                state_rows([r.id for r in batch.found], True, now),
                state_rows([*batch.not_found, *batch.invalid], False, now),
            ]
        )
        # One commit per table; under the lake's commit lock so a build never pins a pass half
        # committed (the current table new, its day's history not yet). State last: a crash
        # before it only means those ids are asked again.
        with lake_commit_lock(lake.catalog_uri):
            if len(rows):
                upsert(lake, kind.table, rows)
            if kind.daily is not None and history_day is not None:
                upsert(lake, kind.daily, rows, history_day)
        if len(state):
            upsert(lake, STATE, state, kind.name)
        history = count_rows(lake, kind.daily, history_day) if kind.daily and history_day else 0
    result = EnrichResult(
        kind=kind.name,
        table=kind.table.name,
        wanted=len(wanted),
        requested=len(due) if available else 0,
        found=len(batch.found),
        not_found=len(batch.not_found),
        invalid=len(batch.invalid),
        failed=len(batch.failed),
        requests=client.requests_made - requests_before,
        rows=count_rows(lake, kind.table),
        history_rows=history,
        seconds=time.monotonic() - started,
        available=available,
        history_day=history_day,
        lookup=client.kind_modes.get(kind.name, "single" if kind.name == "playlists" else "batch"),
        malformed_ids=len(found.malformed),
        malformed_sample=tuple(found.sample),
        nulled_values=len(problems),
        nulled_sample=tuple(str(p) for p in problems[:NULLED_SAMPLE]),
    )
    if batch.error is not None:
        message = f"catalog {kind.name}: {len(batch.failed)} of {len(due)} ids not fetched: {batch.error}"
        raise EnrichmentFailed(message, result, permanent=_permanent(batch.error))
    return result


async def enrich_all(
    client: WebApiClient,
    layout: Layout,
    *,
    now: datetime | None = None,
    ttl: timedelta = DEFAULT_TTL,
    kinds: tuple[str, ...] = ORDER,
    tables: TableLake | None = None,
) -> dict[str, EnrichResult]:
    """Every kind in dependency order, with one client (so one token and one rate budget)."""
    return {name: await enrich(name, client, layout, now=now, ttl=ttl, tables=tables) for name in kinds}
