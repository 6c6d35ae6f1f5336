"""Every query the dashboard runs: plain functions of a read-only DuckDB connection and the filters.

Values are always bound as parameters (`$licensors`, `$start`, ...); the SQL text is built only from
constant fragments. The marts are used where their grain carries the filters (licensor, date,
country, track); where a mart sums over countries or cannot add up distinct users, the staging
view one level down is used instead, so every filter applies to every view. The Web API catalog
(playlist names and followers, artist history) may be absent from an older warehouse: callers ask
`catalog_availability` first and degrade with a note.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

import duckdb
import polars as pl

from pipeline.ingest.status import LakeStatus

DEFAULT_DAYS = 28

# Tracks whose name or artists contain the search text (or whose id is the text).
_SEARCHED = """
searched AS (
    SELECT DISTINCT track_id
    FROM dim_tracks
    WHERE contains(lower(coalesce(track_name, '')), lower($search))
        OR contains(lower(coalesce(artists, '')), lower($search))
        OR track_id = $search
)"""

# The same grouping as sql/marts/fct_source_mix.sql (a test keeps the two in step).
_SOURCE_GROUP = """CASE
            WHEN d.source IN ('own_playlist', 'others_playlist', 'chart') THEN 'playlists'
            WHEN d.source IN ('collection', 'album', 'artist') THEN 'library'
            WHEN d.source = 'search' THEN 'search'
            WHEN d.source = 'radio' THEN 'radio'
            ELSE 'other'
        END"""

_PARAM = re.compile(r"\$([A-Za-z_]\w*)")


def _where(alias: str, *, start: str = "$start") -> str:
    """The filter predicate on a relation with licensor, date, country and track_id columns."""
    return f"""(len(CAST($licensors AS VARCHAR[])) = 0
            OR list_contains(CAST($licensors AS VARCHAR[]), {alias}.licensor))
        AND {alias}.date BETWEEN {start} AND $end
        AND (len(CAST($countries AS VARCHAR[])) = 0
            OR list_contains(CAST($countries AS VARCHAR[]), {alias}.country))
        AND ($search = '' OR {alias}.track_id IN (SELECT track_id FROM searched))"""


_PLAYS = f"""plays AS (
    SELECT d.licensor, d.track_id, sum(d.streams) AS streams
    FROM fct_daily_streams AS d
    WHERE {_where("d")}
    GROUP BY d.licensor, d.track_id
)"""  # streams per licensor and track under the page's filters


@dataclass(frozen=True)
class Filters:
    """What the reader picked: empty licensors or countries mean all; search matches track or artist."""

    start: date
    end: date
    licensors: tuple[str, ...] = ()
    countries: tuple[str, ...] = ()
    search: str = ""

    def params(self) -> dict[str, Any]:
        return {
            "start": self.start,
            "end": self.end,
            "licensors": list(self.licensors),
            "countries": list(self.countries),
            "search": self.search.strip(),
        }


@dataclass(frozen=True)
class Options:
    """What the filters can offer: the warehouse's licensors, days and countries (code, name)."""

    licensors: tuple[str, ...]
    first_day: date
    last_day: date
    countries: tuple[tuple[str, str], ...]

    def default_filters(self, days: int = DEFAULT_DAYS) -> Filters:
        """The last `days` days with data, every licensor and country."""
        return Filters(start=max(self.first_day, self.last_day - timedelta(days=days - 1)), end=self.last_day)


@dataclass(frozen=True)
class BuildInfo:
    """Which build the page shows (from `_warehouse_build`), so readers know how fresh it is."""

    snapshot: str
    built_at: datetime | None
    window_start: date | None
    window_end: date | None


@dataclass(frozen=True)
class Totals:
    streams: int
    listeners: int
    tracks: int
    countries: int


@dataclass(frozen=True)
class CatalogAvailability:
    """Which catalog-backed views the warehouse has (the enrichment adds them)."""

    playlists: bool
    artists: bool


def _frame(con: duckdb.DuckDBPyConnection, sql: str, params: dict[str, Any]) -> pl.DataFrame:
    """Run `sql` with exactly the parameters it names (DuckDB refuses extra ones)."""
    used = set(_PARAM.findall(sql))
    return con.sql(sql, params={k: v for k, v in params.items() if k in used}).pl()


def _one(con: duckdb.DuckDBPyConnection, sql: str, params: dict[str, Any] | None = None) -> tuple | None:
    """The first row, fetching every row: DuckDB 2 keeps a half-read result open and busy."""
    rows = con.execute(sql, params or {}).fetchall()
    return rows[0] if rows else None


def relations(con: duckdb.DuckDBPyConnection) -> set[str]:
    """Names of the tables and views in the warehouse's main schema."""
    rows = con.execute(
        "SELECT table_name FROM information_schema.tables WHERE table_schema = 'main'"
    ).fetchall()
    return {r[0] for r in rows}


def _has_column(con: duckdb.DuckDBPyConnection, table: str, column: str) -> bool:
    row = _one(
        con,
        "SELECT count(*) FROM information_schema.columns "
        "WHERE table_schema = 'main' AND table_name = $table AND column_name = $column",
        {"table": table, "column": column},
    )
    return bool(row and row[0])


def catalog_availability(con: duckdb.DuckDBPyConnection) -> CatalogAvailability:
    """Check for the catalog views by name, so a warehouse built before enrichment still renders."""
    names = relations(con)
    return CatalogAvailability(
        playlists="dim_playlists" in names,
        artists={"dim_artists", "stg_catalog_artists_daily", "dim_tracks"} <= names
        and _has_column(con, "dim_tracks", "artist_ids"),
    )


def build_info(con: duckdb.DuckDBPyConnection) -> BuildInfo | None:
    if "_warehouse_build" not in relations(con):
        return None
    row = _one(con, "SELECT snapshot, built_at, window_start, window_end FROM _warehouse_build")
    return BuildInfo(*row) if row else None


def filter_options(con: duckdb.DuckDBPyConnection) -> Options | None:
    """The filters' choices, or None when the warehouse holds no streams yet (the empty state)."""
    if not {"fct_daily_streams", "dim_country"} <= relations(con):
        return None
    span = _one(con, "SELECT min(date), max(date) FROM fct_daily_streams")
    if not span or span[0] is None:
        return None
    licensors = con.execute("SELECT DISTINCT licensor FROM fct_daily_streams ORDER BY 1").fetchall()
    countries = con.execute(
        """
        SELECT DISTINCT d.country, coalesce(c.country_name, d.country)
        FROM fct_daily_streams AS d
        LEFT JOIN dim_country AS c ON c.country_code = d.country
        ORDER BY 2
        """
    ).fetchall()
    return Options(
        licensors=tuple(r[0] for r in licensors),
        first_day=span[0],
        last_day=span[1],
        countries=tuple((r[0], r[1]) for r in countries),
    )


TOTALS_SQL = f"""
WITH {_SEARCHED}
SELECT
    count(*) AS streams,
    count(DISTINCT s.licensor || '/' || s.user_id) AS listeners,
    count(DISTINCT s.licensor || '/' || s.track_id) AS tracks,
    count(DISTINCT s.country) AS countries
FROM stg_streams AS s
WHERE {_where("s")}
"""


def totals(con: duckdb.DuckDBPyConnection, filters: Filters) -> Totals:
    """Headline numbers; listeners are distinct over the whole period (not a sum of days)."""
    row = _frame(con, TOTALS_SQL, filters.params()).row(0)
    return Totals(*(int(v or 0) for v in row))


DAILY_SQL = f"""
WITH {_SEARCHED},
daily AS (
    SELECT s.licensor, s.date, count(*) AS streams, count(DISTINCT s.user_id) AS listeners
    FROM stg_streams AS s
    WHERE {_where("s", start="CAST($start AS DATE) - 1")}
    GROUP BY s.licensor, s.date
),
with_previous AS (
    SELECT
        *,
        sum(streams) OVER (
            PARTITION BY licensor ORDER BY date
            RANGE BETWEEN INTERVAL 1 DAYS PRECEDING AND INTERVAL 1 DAYS PRECEDING
        ) AS previous
    FROM daily
)
SELECT
    licensor,
    date,
    streams,
    listeners,
    CAST(streams - previous AS BIGINT) AS streams_dod_change,
    (streams - previous) / previous AS streams_dod_change_pct
FROM with_previous
WHERE date >= $start
ORDER BY date, licensor
"""


def daily_streams(con: duckdb.DuckDBPyConnection, filters: Filters) -> pl.DataFrame:
    """Streams and distinct listeners per licensor and day, with the change from the day before
    (null when the day before has no streams, rather than a misleading +100%)."""
    return _frame(con, DAILY_SQL, filters.params())


def latest_day_change(daily: pl.DataFrame) -> tuple[date, int, int | None] | None:
    """(last day, its streams over the selected licensors, change from the day before or None).

    Uses the per-licensor changes of `daily_streams`, so a one-day window still has its change."""
    if daily.is_empty():
        return None
    last = daily.filter(pl.col("date") == pl.col("date").max())
    streams = int(last["streams"].sum())
    known = last.filter(pl.col("streams_dod_change").is_not_null())
    if known.is_empty():
        return last["date"][0], streams, None
    previous = int((known["streams"] - known["streams_dod_change"]).sum())
    return last["date"][0], streams, streams - previous


TOP_TRACKS_SQL = f"""
WITH {_SEARCHED},
{_PLAYS},
short AS (
    SELECT s.licensor, s.track_id, count(*) AS sub30_streams
    FROM stg_sub30_streams AS s
    WHERE {_where("s")}
    GROUP BY s.licensor, s.track_id
),
engagement AS (
    SELECT r.licensor, r.track_id, sum(r.streams) AS counted, sum(r.skips) AS skips, sum(r.saves) AS saves
    FROM fct_skip_save_rates AS r
    WHERE {_where("r")}
    GROUP BY r.licensor, r.track_id
)
SELECT
    CAST(row_number() OVER (ORDER BY p.streams DESC, p.licensor, p.track_id) AS BIGINT) AS rank,
    p.licensor,
    p.track_id,
    coalesce(t.track_name, p.track_id) AS track_name,
    t.artists,
    CAST(p.streams AS BIGINT) AS streams,
    CAST(coalesce(s.sub30_streams, 0) AS BIGINT) AS sub30_streams,
    coalesce(s.sub30_streams, 0) / (p.streams + coalesce(s.sub30_streams, 0)) AS sub30_share,
    e.skips / nullif(e.counted, 0) AS skip_rate,
    e.saves / nullif(e.counted, 0) AS save_rate
FROM plays AS p
LEFT JOIN short AS s USING (licensor, track_id)
LEFT JOIN engagement AS e USING (licensor, track_id)
LEFT JOIN dim_tracks AS t USING (licensor, track_id)
ORDER BY rank
LIMIT $limit
"""


def top_tracks(con: duckdb.DuckDBPyConnection, filters: Filters, *, limit: int = 50) -> pl.DataFrame:
    """Most-streamed tracks with sub-30 share, skip rate and save rate, all at country grain so the
    country filter applies (rates as in fct_track_performance: skips and saves per counted stream)."""
    return _frame(con, TOP_TRACKS_SQL, {**filters.params(), "limit": limit})


COUNTRIES_SQL = f"""
WITH {_SEARCHED},
plays AS (
    SELECT d.country, sum(d.streams) AS streams
    FROM fct_daily_streams AS d
    WHERE {_where("d")}
    GROUP BY d.country
),
engagement AS (
    SELECT r.country, sum(r.streams) AS counted, sum(r.skips) AS skips, sum(r.saves) AS saves
    FROM fct_skip_save_rates AS r
    WHERE {_where("r")}
    GROUP BY r.country
)
SELECT
    p.country,
    coalesce(c.country_name, p.country) AS country_name,
    c.region,
    CAST(p.streams AS BIGINT) AS streams,
    p.streams / sum(p.streams) OVER () AS share,
    e.skips / nullif(e.counted, 0) AS skip_rate,
    e.saves / nullif(e.counted, 0) AS save_rate
FROM plays AS p
LEFT JOIN engagement AS e USING (country)
LEFT JOIN dim_country AS c ON c.country_code = p.country
ORDER BY streams DESC, p.country
"""


def countries(con: duckdb.DuckDBPyConnection, filters: Filters) -> pl.DataFrame:
    """Streams per listener country with its share of the total, skip rate and save rate."""
    return _frame(con, COUNTRIES_SQL, filters.params())


DEMOGRAPHICS_SQL = f"""
WITH {_SEARCHED}
SELECT
    d.age_group,
    d.gender,
    CAST(sum(d.streams) AS BIGINT) AS streams,
    sum(d.streams) / sum(sum(d.streams)) OVER () AS share
FROM stg_aggregated_count AS d
WHERE {_where("d")}
GROUP BY d.age_group, d.gender
ORDER BY d.age_group, d.gender
"""


def demographics(con: duckdb.DuckDBPyConnection, filters: Filters) -> pl.DataFrame:
    """Streams per age group and gender (Aggregated Streams, at country grain, so the country
    filter applies; without it the numbers equal fct_track_demographics)."""
    return _frame(con, DEMOGRAPHICS_SQL, filters.params())


NO_BREAKDOWN = (
    "No demographic breakdown: the Aggregated Streams report for this selection has country "
    "totals only (no gender or age), so none is shown."
)


def with_breakdown(demo: pl.DataFrame) -> tuple[pl.DataFrame, float]:
    """The groups that have a gender or age (shares among them), and the share of streams without.

    The report's totals shape has neither: those streams are counted, never split by invention.
    """
    known = demo.filter(pl.col("gender").is_not_null() | pl.col("age_group").is_not_null())
    total = demo["streams"].sum() if demo.height else 0
    without = (total - (known["streams"].sum() if known.height else 0)) / total if total else 0.0
    if without and known.height:
        known = known.with_columns(share=pl.col("streams") / pl.col("streams").sum())
    return known, float(without)


def demographics_matrix(demo: pl.DataFrame) -> pl.DataFrame:
    """Share of streams as an age group x gender table (one row per age group; 0 where none)."""
    if demo.is_empty():
        return pl.DataFrame({"age_group": []}, schema={"age_group": pl.String})
    matrix = demo.pivot(on="gender", index="age_group", values="share", sort_columns=True)
    return matrix.fill_null(0.0).sort("age_group")


SOURCES_SQL = f"""
WITH {_SEARCHED}
SELECT
    {_SOURCE_GROUP} AS source_group,
    d.source,
    CAST(sum(d.streams) AS BIGINT) AS streams,
    sum(d.streams) / sum(sum(d.streams)) OVER () AS share
FROM fct_daily_streams AS d
WHERE {_where("d")}
GROUP BY ALL
ORDER BY streams DESC, d.source
"""


def sources(con: duckdb.DuckDBPyConnection, filters: Filters) -> pl.DataFrame:
    """Streams per source (playlist, collection, search, radio, ...) with its group and share."""
    return _frame(con, SOURCES_SQL, filters.params())


def source_groups(by_source: pl.DataFrame) -> pl.DataFrame:
    """The sources summed into the five groups of fct_source_mix, biggest first."""
    return (
        by_source.group_by("source_group")
        .agg(pl.col("streams").sum(), pl.col("share").sum())
        .sort(["streams", "source_group"], descending=[True, False])
    )


_PLAYLIST_PLAYS = f"""
WITH {_SEARCHED},
plays AS (
    SELECT
        s.licensor,
        s.playlist_id,
        count(*) AS streams,
        count(DISTINCT s.user_id) AS listeners,
        count(DISTINCT s.track_id) AS tracks
    FROM stg_streams AS s
    WHERE {_where("s")} AND s.playlist_id IS NOT NULL AND s.playlist_id <> ''
    GROUP BY s.licensor, s.playlist_id
)"""

PLAYLISTS_SQL = f"""{_PLAYLIST_PLAYS}
SELECT
    CAST(row_number() OVER (ORDER BY p.streams DESC, p.licensor, p.playlist_id) AS BIGINT) AS rank,
    p.licensor,
    p.playlist_id,
    l.playlist_name,
    l.owner_name,
    CAST(l.followers AS BIGINT) AS followers,
    p.streams,
    p.listeners,
    p.tracks
FROM plays AS p
LEFT JOIN dim_playlists AS l USING (licensor, playlist_id)
ORDER BY rank
LIMIT $limit
"""

PLAYLISTS_WITHOUT_CATALOG_SQL = f"""{_PLAYLIST_PLAYS}
SELECT
    CAST(row_number() OVER (ORDER BY p.streams DESC, p.licensor, p.playlist_id) AS BIGINT) AS rank,
    p.licensor,
    p.playlist_id,
    CAST(NULL AS VARCHAR) AS playlist_name,
    CAST(NULL AS VARCHAR) AS owner_name,
    CAST(NULL AS BIGINT) AS followers,
    p.streams,
    p.listeners,
    p.tracks
FROM plays AS p
ORDER BY rank
LIMIT $limit
"""


def top_playlists(
    con: duckdb.DuckDBPyConnection, filters: Filters, *, with_catalog: bool, limit: int = 25
) -> pl.DataFrame:
    """Playlists driving the most streams (from the streams' source_uri), with name, owner and
    current followers from dim_playlists when the warehouse has it (else null)."""
    sql = PLAYLISTS_SQL if with_catalog else PLAYLISTS_WITHOUT_CATALOG_SQL
    return _frame(con, sql, {**filters.params(), "limit": limit})


ARTIST_HISTORY_SQL = f"""
WITH {_SEARCHED},
{_PLAYS},
credits AS (
    SELECT DISTINCT licensor, track_id, artist_id
    FROM (SELECT licensor, track_id, unnest(artist_ids) AS artist_id FROM dim_tracks)
),
ranked AS (
    SELECT c.artist_id, CAST(sum(p.streams) AS BIGINT) AS streams
    FROM plays AS p
    JOIN credits AS c USING (licensor, track_id)
    GROUP BY c.artist_id
    ORDER BY streams DESC, c.artist_id
    LIMIT $limit
),
names AS (
    SELECT artist_id, any_value(artist_name) AS artist_name FROM dim_artists GROUP BY artist_id
)
SELECT
    h.snapshot_date,
    r.artist_id,
    coalesce(n.artist_name, r.artist_id) AS artist_name,
    r.streams,
    CAST(h.popularity AS BIGINT) AS popularity,
    CAST(h.followers AS BIGINT) AS followers
FROM ranked AS r
JOIN stg_catalog_artists_daily AS h USING (artist_id)
LEFT JOIN names AS n USING (artist_id)
ORDER BY r.streams DESC, r.artist_id, h.snapshot_date
"""


def artist_history(con: duckdb.DuckDBPyConnection, filters: Filters, *, limit: int = 8) -> pl.DataFrame:
    """Popularity and followers on each catalog snapshot day for the artists of the most-streamed
    tracks under the filters (the snapshots are taken when enrichment runs, not on stream dates)."""
    return _frame(con, ARTIST_HISTORY_SQL, {**filters.params(), "limit": limit})


def artist_summary(history: pl.DataFrame) -> pl.DataFrame:
    """One row per artist: streams, latest popularity and followers, and the change in followers
    since the first snapshot shown."""
    if history.is_empty():
        return pl.DataFrame(
            schema={
                "artist_name": pl.String,
                "streams": pl.Int64,
                "popularity": pl.Int64,
                "followers": pl.Int64,
                "followers_change": pl.Int64,
                "snapshots": pl.UInt32,
            }
        )
    return (
        history.sort("snapshot_date")
        .group_by("artist_id", maintain_order=True)
        .agg(
            pl.col("artist_name").last(),
            pl.col("streams").last(),
            pl.col("popularity").last(),
            pl.col("followers").last(),
            (pl.col("followers").last() - pl.col("followers").first()).alias("followers_change"),
            pl.len().alias("snapshots"),
        )
        .sort(["streams", "artist_id"], descending=[True, False])
        .drop("artist_id")
    )


def health_frames(status: LakeStatus) -> tuple[pl.DataFrame, pl.DataFrame]:
    """(freshness per licensor, report-days not loaded or with rejects) for the data health section."""
    freshness = pl.DataFrame(
        {
            "licensor": [h.licensor for h in status.licensors],
            "newest_day": [h.newest_day for h in status.licensors],
            "last_load": [
                h.last_load.replace(tzinfo=None) if h.last_load else None for h in status.licensors
            ],
            "days_missing": [len(h.days_missing) for h in status.licensors],
            "missing": [", ".join(f"{d:%m-%d}" for d in h.days_missing) for h in status.licensors],
            "days_failed": [len(h.days_failed) for h in status.licensors],
            "rejected": [h.rejected for h in status.licensors],
        },
        schema={
            "licensor": pl.String,
            "newest_day": pl.Date,
            "last_load": pl.Datetime("us"),
            "days_missing": pl.Int64,
            "missing": pl.String,
            "days_failed": pl.Int64,
            "rejected": pl.Int64,
        },
    )
    issues = [c for c in status.cells if c.state != "loaded" or c.rejected]
    problems = pl.DataFrame(
        {
            "date": [c.day for c in issues],
            "licensor": [c.licensor for c in issues],
            "report": [c.report for c in issues],
            "state": [c.state.replace("_", " ") for c in issues],
            "rows": [c.rows for c in issues],
            "rejected": [c.rejected for c in issues],
            "cause": [c.cause for c in issues],
        },
        schema={
            "date": pl.Date,
            "licensor": pl.String,
            "report": pl.String,
            "state": pl.String,
            "rows": pl.Int64,
            "rejected": pl.Int64,
            "cause": pl.String,
        },
    )
    return freshness, problems.sort(["date", "licensor", "report"], descending=[True, False, False])


_RISK_WHERE = """(len(CAST($licensors AS VARCHAR[])) = 0
            OR list_contains(CAST($licensors AS VARCHAR[]), {alias}.licensor))
        AND {alias}.date BETWEEN $start AND $end"""

FLAGGED_TRACKS_SQL = f"""
SELECT r.licensor, r.track_id, any_value(t.track_name) AS track_name, count(*) AS flagged_days,
       max(r.risk_score) AS risk_score, max(r.artificial_share_estimate) AS artificial_share,
       CAST(sum(r.suspicious_streams) AS BIGINT) AS suspicious_streams, max(r.date) AS last_flagged,
       arg_max(r.reasons, r.date) AS reasons
FROM fct_track_risk AS r
LEFT JOIN dim_tracks AS t ON t.licensor = r.licensor AND t.track_id = r.track_id
WHERE r.flagged AND {_RISK_WHERE.format(alias="r")}
GROUP BY r.licensor, r.track_id
ORDER BY risk_score DESC, suspicious_streams DESC, r.licensor, r.track_id
"""

RISK_HISTORY_SQL = f"""
SELECT r.date, r.licensor || ' ' || r.track_id AS track, r.risk_score, r.artificial_share_estimate,
       r.streams, r.short_share, r.new_account_share, r.context_free_share, r.lockstep_share
FROM fct_track_risk AS r
SEMI JOIN (
    SELECT DISTINCT licensor, track_id
    FROM fct_track_risk AS f
    WHERE f.flagged AND {_RISK_WHERE.format(alias="f")}
) AS k ON k.licensor = r.licensor AND k.track_id = r.track_id
WHERE {_RISK_WHERE.format(alias="r")}
ORDER BY r.date, track
"""

SUSPICIOUS_LISTENERS_SQL = f"""
SELECT s.licensor, s.date, s.listener, s.track_id, s.plays, s.account_age_days, s.reasons
FROM fct_suspicious_listeners AS s
SEMI JOIN fct_track_risk AS r
    ON r.licensor = s.licensor AND r.date = s.date AND r.track_id = s.track_id AND r.flagged
WHERE {_RISK_WHERE.format(alias="s")}
ORDER BY s.date DESC, s.plays DESC, s.listener, s.track_id
LIMIT $limit
"""


def has_risk(con: duckdb.DuckDBPyConnection) -> bool:
    """Whether the warehouse was built with the risk marts (an older one was not)."""
    return {"fct_track_risk", "fct_suspicious_listeners"} <= relations(con)


def flagged_tracks(con: duckdb.DuckDBPyConnection, filters: Filters) -> pl.DataFrame:
    """Tracks flagged for artificial streaming under the page's licensors and days, riskiest first."""
    return _frame(con, FLAGGED_TRACKS_SQL, filters.params())


def risk_history(con: duckdb.DuckDBPyConnection, filters: Filters) -> pl.DataFrame:
    """Every day's signals of the tracks flagged in the window (how the flag built up)."""
    return _frame(con, RISK_HISTORY_SQL, filters.params())


def suspicious_listeners(
    con: duckdb.DuckDBPyConnection, filters: Filters, *, limit: int = 200
) -> pl.DataFrame:
    """The listeners behind the flags, as pseudonyms only."""
    return _frame(con, SUSPICIOUS_LISTENERS_SQL, filters.params() | {"limit": limit})
