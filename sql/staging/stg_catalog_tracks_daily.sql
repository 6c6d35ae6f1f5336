-- stg_catalog_tracks_daily: track popularity on each day the Web API was asked (history).
-- grain: one track per snapshot day
-- key: snapshot_date, track_id
-- partitioned_by: none
SELECT snapshot_date, track_id, popularity, fetched_at
FROM lake.catalog_tracks_daily
