-- stg_catalog_artists: the Web API's latest view of each artist (catalog enrichment).
-- grain: one artist
-- key: artist_id
-- partitioned_by: none
SELECT
    artist_id,
    artist_name,
    popularity,
    followers,
    genres,
    fetched_at
FROM lake.catalog_artists
