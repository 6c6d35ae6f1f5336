-- fct_skip_save_rates: skip rate and save rate per track, country and day (Aggregated Streams).
-- grain: one licensor x day x track x country
-- key: licensor, date, track_id, country
-- partitioned_by: date
WITH counts AS (
    SELECT licensor, date, track_id, country, CAST(sum(streams) AS BIGINT) AS streams
    FROM stg_aggregated_count
    WHERE date BETWEEN $start AND $end
    GROUP BY licensor, date, track_id, country
),
skips AS (
    SELECT licensor, date, track_id, country, CAST(sum(skips) AS BIGINT) AS skips
    FROM stg_aggregated_skips
    WHERE date BETWEEN $start AND $end
    GROUP BY licensor, date, track_id, country
),
saves AS (
    SELECT licensor, date, track_id, country, CAST(sum(saves) AS BIGINT) AS saves
    FROM stg_aggregated_saves
    WHERE date BETWEEN $start AND $end AND country IS NOT NULL  -- not the plan split over all countries
    GROUP BY licensor, date, track_id, country
),
keys AS (
    SELECT licensor, date, track_id, country FROM counts
    UNION
    SELECT licensor, date, track_id, country FROM skips
    UNION
    SELECT licensor, date, track_id, country FROM saves
)
SELECT
    k.licensor,
    k.date,
    k.track_id,
    k.country,
    coalesce(c.streams, 0) AS streams,
    coalesce(sk.skips, 0) AS skips,
    coalesce(sv.saves, 0) AS saves,
    coalesce(sk.skips, 0) / nullif(c.streams, 0) AS skip_rate,
    coalesce(sv.saves, 0) / nullif(c.streams, 0) AS save_rate
FROM keys AS k
LEFT JOIN counts AS c USING (licensor, date, track_id, country)
LEFT JOIN skips AS sk USING (licensor, date, track_id, country)
LEFT JOIN saves AS sv USING (licensor, date, track_id, country)
