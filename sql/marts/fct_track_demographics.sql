-- fct_track_demographics: streams by listener age group and gender, per track and day.
-- grain: one licensor x day x track x age group x gender (summed over countries)
-- key: licensor, date, track_id, age_group, gender
-- partitioned_by: date
-- The totals shape of the report has no gender or age: its rows have both null and
-- has_demographic_breakdown false, one per track, rather than an invented split.
WITH by_group AS MATERIALIZED (
    SELECT licensor, date, track_id, age_group, gender, CAST(sum(streams) AS BIGINT) AS streams
    FROM stg_aggregated_count
    WHERE date BETWEEN $start AND $end
    GROUP BY licensor, date, track_id, age_group, gender
)
SELECT
    licensor,
    date,
    track_id,
    age_group,
    gender,
    streams,
    gender IS NOT NULL OR age_group IS NOT NULL AS has_demographic_breakdown,
    streams / nullif(sum(streams) OVER (PARTITION BY licensor, date, track_id), 0) AS share_of_track_streams
FROM by_group
