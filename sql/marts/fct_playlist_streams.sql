-- fct_playlist_streams: streams attributed to a playlist (from source_uri), per playlist, track and day.
-- grain: one licensor x day x playlist x track
-- key: licensor, date, playlist_id, track_id
-- partitioned_by: date
SELECT
    licensor,
    date,
    playlist_id,
    track_id,
    'spotify:playlist:' || playlist_id AS playlist_uri,
    count(*) AS streams,
    count(DISTINCT user_id) AS listeners,
    count(*) FILTER (WHERE source = 'own_playlist') AS own_playlist_streams,
    count(*) FILTER (WHERE is_completed) AS completed_streams,
    count(*) FILTER (WHERE is_discovery) AS discovery_streams
FROM stg_streams
WHERE date BETWEEN $start AND $end AND playlist_id IS NOT NULL AND playlist_id <> ''
GROUP BY licensor, date, playlist_id, track_id
