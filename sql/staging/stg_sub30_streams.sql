-- stg_sub30_streams: streams shorter than 30 seconds, with clean names and types.
-- grain: one stream shorter than 30 s (one play of one track by one user)
-- key: none (an event log: the Bulk API gives no stream id)
-- partitioned_by: date
SELECT
    licensor,
    date,
    "timestamp" AS stream_ts,
    user_id,
    track_id,
    isrc,
    upper(country) AS country,
    region_code,
    coalesce(nullif(lower(source), ''), 'unknown') AS source,
    nullif(source_uri, '') AS source_uri,
    CASE WHEN source_uri LIKE 'spotify:playlist:%' THEN split_part(source_uri, ':', 3) END AS playlist_id,
    stream_length AS stream_length_ms,
    coalesce(nullif(lower(device_type), ''), 'unknown') AS device_type,
    os,
    coalesce(nullif(lower(access), ''), 'unknown') AS access,
    cached AS is_cached,
    shuffle AS is_shuffle,
    offline AS is_offline,
    completion AS is_completed,
    discovery AS is_discovery,
    _source_file AS source_file,
    _loaded_at AS loaded_at
FROM lake.sub30_streams
