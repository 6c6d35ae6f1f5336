-- dim_playlists: every playlist a licensor's streams came from, with Web API name, owner and followers.
-- grain: one playlist per licensor
-- key: licensor, playlist_id
-- partitioned_by: none
WITH streamed AS (
    SELECT
        licensor,
        playlist_id,
        CAST(sum(streams) AS BIGINT) AS streams,
        count(DISTINCT track_id) AS tracks_streamed,
        min(date) AS first_streamed_date,
        max(date) AS last_streamed_date
    FROM fct_playlist_streams
    GROUP BY licensor, playlist_id
)
SELECT
    s.licensor,
    s.playlist_id,
    'spotify:playlist:' || s.playlist_id AS playlist_uri,
    p.playlist_name,
    p.description,
    p.owner_id,
    p.owner_name,
    p.followers,
    p.is_public,
    p.is_collaborative,
    p.snapshot_id,
    p.tracks_total,
    s.streams,
    s.tracks_streamed,
    s.first_streamed_date,
    s.last_streamed_date,
    p.playlist_id IS NOT NULL AS in_catalog,
    p.fetched_at AS catalog_fetched_at
FROM streamed AS s
LEFT JOIN stg_catalog_playlists AS p USING (playlist_id)
