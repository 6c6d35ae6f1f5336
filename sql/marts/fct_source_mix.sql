-- fct_source_mix: where streams came from (playlists, library, search, radio, other), per track and day.
-- grain: one licensor x day x track x source group
-- key: licensor, date, track_id, source_group
-- partitioned_by: date
WITH grouped AS (
    SELECT
        licensor,
        date,
        track_id,
        user_id,
        CASE
            WHEN source IN ('own_playlist', 'others_playlist', 'chart') THEN 'playlists'
            WHEN source IN ('collection', 'album', 'artist') THEN 'library'
            WHEN source = 'search' THEN 'search'
            WHEN source = 'radio' THEN 'radio'
            ELSE 'other'
        END AS source_group
    FROM stg_streams
    WHERE date BETWEEN $start AND $end
),
by_group AS MATERIALIZED (
    SELECT licensor, date, track_id, source_group, count(*) AS streams, count(DISTINCT user_id) AS listeners
    FROM grouped
    GROUP BY licensor, date, track_id, source_group
)
SELECT
    licensor,
    date,
    track_id,
    source_group,
    streams,
    listeners,
    streams / sum(streams) OVER (PARTITION BY licensor, date, track_id) AS share_of_track_streams
FROM by_group
