-- stg_catalog_playlists_daily: playlist followers on each day the Web API was asked (history).
-- grain: one playlist per snapshot day
-- key: snapshot_date, playlist_id
-- partitioned_by: none
SELECT snapshot_date, playlist_id, followers, fetched_at
FROM lake.catalog_playlists_daily
