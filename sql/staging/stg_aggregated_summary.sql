-- stg_aggregated_summary: per-track daily totals from the Aggregated Streams report.
-- grain: one track per licensor and day
-- key: licensor, date, track_uri
-- partitioned_by: date
SELECT
    licensor,
    date,
    coalesce(track_id, split_part(track_uri, ':', 3)) AS track_id,
    track_uri,
    track_name,
    isrc,
    album_name,
    album_uri,
    upc,
    artist_names,
    artist_uris,
    listeners,
    streams,
    skips,
    saves,
    female_streams,
    male_streams,
    non_binary_streams,
    unknown_gender_streams
FROM lake.aggregated_summary
