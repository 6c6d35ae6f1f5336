-- fct_track_performance: the analyst's daily track scorecard: reach, engagement, trend.
-- grain: one licensor x day x track with at least one stream of any length
-- key: licensor, date, track_id
-- partitioned_by: date
-- rolling_days: 28
-- Names come from that day's tracks report, else the Web API catalog; popularity is the catalog's
-- snapshot as of the day (the latest one on or before it), else its current value.
WITH daily AS (
    -- 27 days before the window feed the rolling sums; only the window is written.
    SELECT licensor, date, track_id, streams, sub30_streams, sub30_share
    FROM fct_track_sub30_share
    WHERE date BETWEEN CAST($start AS DATE) - 27 AND $end
),
rolling AS (
    -- One row per day of the window with the sums over it and the days before it: a join over the
    -- 28 days, not window functions, so only the window's rows are computed.
    SELECT
        r.licensor,
        r.date,
        r.track_id,
        any_value(r.streams) AS streams,
        any_value(r.sub30_streams) AS sub30_streams,
        any_value(r.sub30_share) AS sub30_share,
        CAST(sum(h.streams) FILTER (WHERE h.date >= r.date - 6) AS BIGINT) AS streams_7d,
        CAST(sum(h.streams) AS BIGINT) AS streams_28d,
        CAST(coalesce(sum(h.streams) FILTER (WHERE h.date = r.date - 1), 0) AS BIGINT) AS streams_prev_day
    FROM daily AS r
    JOIN daily AS h
        ON h.licensor = r.licensor AND h.track_id = r.track_id AND h.date BETWEEN r.date - 27 AND r.date
    WHERE r.date BETWEEN $start AND $end
    GROUP BY r.licensor, r.date, r.track_id
),
listeners AS (
    SELECT licensor, date, track_id, count(DISTINCT user_id) AS listeners
    FROM stg_streams
    WHERE date BETWEEN $start AND $end
    GROUP BY licensor, date, track_id
),
engagement AS (
    SELECT licensor, date, track_id, CAST(sum(skips) AS BIGINT) AS skips, CAST(sum(saves) AS BIGINT) AS saves
    FROM stg_aggregated_summary
    WHERE date BETWEEN $start AND $end
    GROUP BY licensor, date, track_id
),
names AS (
    SELECT licensor, date, track_id, any_value(track_name) AS track_name, any_value(artists) AS artists
    FROM stg_tracks
    WHERE date BETWEEN $start AND $end
    GROUP BY licensor, date, track_id
)
SELECT
    r.licensor,
    r.date,
    r.track_id,
    coalesce(n.track_name, c.track_name) AS track_name,
    coalesce(n.artists, c.artists) AS artists,
    coalesce(h.popularity, c.popularity) AS popularity,
    c.genres,
    r.streams,
    coalesce(l.listeners, 0) AS listeners,
    r.sub30_streams,
    r.sub30_share,
    coalesce(e.skips, 0) AS skips,
    coalesce(e.saves, 0) AS saves,
    coalesce(e.skips, 0) / nullif(r.streams, 0) AS skip_rate,
    coalesce(e.saves, 0) / nullif(r.streams, 0) AS save_rate,
    r.streams_7d,
    r.streams_28d,
    r.streams_prev_day,
    r.streams - r.streams_prev_day AS streams_dod_change,
    (r.streams - r.streams_prev_day) / nullif(r.streams_prev_day, 0) AS streams_dod_change_pct
FROM rolling AS r
LEFT JOIN listeners AS l USING (licensor, date, track_id)
LEFT JOIN engagement AS e USING (licensor, date, track_id)
LEFT JOIN names AS n USING (licensor, date, track_id)
LEFT JOIN stg_catalog_tracks AS c ON c.track_id = r.track_id
ASOF LEFT JOIN stg_catalog_tracks_daily AS h ON h.track_id = r.track_id AND r.date >= h.snapshot_date
WHERE r.date BETWEEN $start AND $end
