-- stg_aggregated_count: streams per track, country, gender and age group (Aggregated Streams).
-- grain: one track x country x gender x age group per licensor and day
-- key: licensor, date, track_uri, country, gender, age_group
-- partitioned_by: date
-- gender and age_group are null where the report has country totals only (its totals shape).
SELECT
    licensor,
    date,
    coalesce(track_id, split_part(track_uri, ':', 3)) AS track_id,
    track_uri,
    upper(country) AS country,
    lower(gender) AS gender,
    age_group,
    streams
FROM lake.aggregated_count
