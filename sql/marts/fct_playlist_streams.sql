-- fct_playlist_streams: streams attributed to a playlist (from source_uri), per playlist, track and day.
-- grain: one licensor x day x playlist x track
-- key: licensor, date, playlist_id, track_id
-- partitioned_by: date
-- Track names from that day's tracks report, else the Web API catalog; playlist name, owner and
-- followers (as of the day when a snapshot exists, else current) from the catalog.
WITH plays AS (
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
),
names AS (
    SELECT licensor, date, track_id, any_value(track_name) AS track_name, any_value(artists) AS artists
    FROM stg_tracks
    WHERE date BETWEEN $start AND $end
    GROUP BY licensor, date, track_id
)
SELECT
    p.*,
    coalesce(n.track_name, t.track_name) AS track_name,
    coalesce(n.artists, t.artists) AS artists,
    l.playlist_name,
    l.owner_id,
    l.owner_name,
    coalesce(h.followers, l.followers) AS playlist_followers
FROM plays AS p
LEFT JOIN names AS n ON n.licensor = p.licensor AND n.date = p.date AND n.track_id = p.track_id
LEFT JOIN stg_catalog_tracks AS t ON t.track_id = p.track_id
LEFT JOIN stg_catalog_playlists AS l ON l.playlist_id = p.playlist_id
ASOF LEFT JOIN stg_catalog_playlists_daily AS h ON h.playlist_id = p.playlist_id AND p.date >= h.snapshot_date
