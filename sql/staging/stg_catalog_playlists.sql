-- stg_catalog_playlists: the Web API's latest view of each playlist streams were played from.
-- grain: one playlist
-- key: playlist_id
-- partitioned_by: none
SELECT
    playlist_id,
    playlist_name,
    description,
    owner_id,
    owner_name,
    followers,
    public AS is_public,
    collaborative AS is_collaborative,
    snapshot_id,
    tracks_total,
    fetched_at
FROM lake.catalog_playlists
