-- dim_playlists: every playlist a licensor's streams came from, with Web API name, owner and followers.
-- grain: one playlist per licensor
-- key: licensor, playlist_id
-- partitioned_by: none
-- Totals come from `acc_playlists` and the distinct tracks from `acc_playlist_tracks`, both folded
-- day by day from `fct_playlist_streams`, so a daily build does not re-read the facts' history.
WITH tracks AS (
    SELECT licensor, playlist_id, count(*) AS tracks_streamed
    FROM acc_playlist_tracks
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
    t.tracks_streamed,
    s.first_streamed_date,
    s.last_streamed_date,
    p.playlist_id IS NOT NULL AS in_catalog,
    p.fetched_at AS catalog_fetched_at
FROM acc_playlists AS s
JOIN tracks AS t USING (licensor, playlist_id)
LEFT JOIN stg_catalog_playlists AS p USING (playlist_id)
