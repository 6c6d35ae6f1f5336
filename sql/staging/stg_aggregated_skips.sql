-- stg_aggregated_skips: skips per track and country (Aggregated Streams).
-- grain: one track x country per licensor and day
-- key: licensor, date, track_uri, country
-- partitioned_by: date
SELECT
    licensor,
    date,
    coalesce(track_id, split_part(track_uri, ':', 3)) AS track_id,
    track_uri,
    upper(country) AS country,
    skips
FROM lake.aggregated_skips
