-- fct_risk_track_signals: the day's artificial-streaming signals of one track, no listener ids.
-- grain: one licensor x day x track with at least one stream of 30 s or more
-- key: licensor, date, track_id
-- partitioned_by: date
-- Shares are of the track's streams of 30 s or more that day; `*_top_share` is the share of the
-- most common country, region, device type or OS. docs/risk.md explains each and its source.
WITH streams AS NOT MATERIALIZED (
    SELECT
        licensor,
        date,
        track_id,
        user_id,
        hour(stream_ts) AS hour_of_day,
        stream_length_ms < getvariable('risk_short_max_ms') AS is_short,
        source IN ('other', 'unknown') AND source_uri IS NULL AS is_context_free,
        country,
        region_code,
        device_type,
        os
    FROM stg_streams
    WHERE date BETWEEN $start AND $end
),
per_listener AS (
    SELECT
        licensor,
        date,
        track_id,
        user_id,
        count(*) AS plays,
        count(*) FILTER (WHERE is_short) AS short_plays,
        count(*) FILTER (WHERE is_context_free) AS context_free_plays
    FROM streams
    GROUP BY licensor, date, track_id, user_id
),
totals AS (
    -- One pass over the listeners: counts, loops, new accounts, and the top 1 % of listeners'
    -- streams (the largest `ceil(1 % of listeners)` play counts, at least one listener's).
    SELECT
        p.licensor,
        p.date,
        p.track_id,
        CAST(sum(p.plays) AS BIGINT) AS streams,
        count(*) AS listeners,
        sum(p.plays) FILTER (WHERE p.plays >= getvariable('risk_loop_plays')) AS loop_streams,
        sum(p.plays) FILTER (WHERE a.account_age_days < getvariable('risk_new_account_days')) AS new_account_streams,
        list_sum(list_slice(list_sort(list(p.plays), 'DESC'), 1, CAST(ceil(count(*) * 0.01) AS BIGINT)))
            AS top_streams,
        sum(p.short_plays) / sum(p.plays) AS short_share,
        sum(p.context_free_plays) / sum(p.plays) AS context_free_share
    FROM per_listener AS p
    LEFT JOIN stg_users AS a
        ON a.licensor = p.licensor AND a.date = p.date AND a.user_id = p.user_id
        AND a.date BETWEEN $start AND $end
    GROUP BY p.licensor, p.date, p.track_id
),
mixes AS (
    -- One pass for the four concentrations: counts per value of each attribute.
    SELECT
        licensor,
        date,
        track_id,
        CASE
            WHEN GROUPING(country) = 0 THEN 'country'
            WHEN GROUPING(region_code) = 0 THEN 'region'
            WHEN GROUPING(device_type) = 0 THEN 'device'
            WHEN GROUPING(os) = 0 THEN 'os'
            ELSE 'hour'
        END AS attribute,
        count(*) AS streams
    FROM streams
    GROUP BY GROUPING SETS (
        (licensor, date, track_id, country),
        (licensor, date, track_id, region_code),
        (licensor, date, track_id, device_type),
        (licensor, date, track_id, os),
        (licensor, date, track_id, hour_of_day)
    )
),
concentration AS (
    SELECT
        m.licensor,
        m.date,
        m.track_id,
        max(m.streams) FILTER (WHERE m.attribute = 'country') / any_value(t.streams) AS country_top_share,
        max(m.streams) FILTER (WHERE m.attribute = 'region') / any_value(t.streams) AS region_top_share,
        max(m.streams) FILTER (WHERE m.attribute = 'device') / any_value(t.streams) AS device_top_share,
        max(m.streams) FILTER (WHERE m.attribute = 'os') / any_value(t.streams) AS os_top_share,
        -- Hour-of-day entropy, 0 (every stream in one hour) to 1 (spread evenly over 24 hours):
        -- (ln N - sum(n ln n) / N) / ln 24, the terms summed in sorted order, so the value does not
        -- depend on how the rows were split between threads (a rebuild gives the same bits).
        (
            ln(any_value(t.streams))
            - list_sum(list_sort(list(m.streams * ln(m.streams)) FILTER (WHERE m.attribute = 'hour')))
            / any_value(t.streams)
        ) / ln(24) AS hour_entropy
    FROM mixes AS m
    JOIN totals AS t USING (licensor, date, track_id)
    GROUP BY m.licensor, m.date, m.track_id
)
SELECT
    t.licensor,
    t.date,
    t.track_id,
    t.streams,
    t.listeners,
    t.streams / t.listeners AS streams_per_listener,
    coalesce(t.loop_streams, 0) / t.streams AS loop_share,
    t.top_streams / t.streams AS top1pct_share,
    t.short_share,
    coalesce(s.sub30_share, 0) AS sub30_share,
    coalesce(t.new_account_streams, 0) / t.streams AS new_account_share,
    c.country_top_share,
    c.region_top_share,
    c.device_top_share,
    c.os_top_share,
    t.context_free_share,
    greatest(c.hour_entropy, 0) AS hour_entropy
FROM totals AS t
JOIN concentration AS c USING (licensor, date, track_id)
LEFT JOIN fct_track_sub30_share AS s USING (licensor, date, track_id)
