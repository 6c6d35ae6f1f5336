-- stg_catalog_artists_daily: artist popularity and followers on each day the Web API was asked (history).
-- grain: one artist per snapshot day
-- key: snapshot_date, artist_id
-- partitioned_by: none
SELECT snapshot_date, artist_id, popularity, followers, fetched_at
FROM lake.catalog_artists_daily
