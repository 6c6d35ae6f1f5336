-- stg_catalog_albums: the Web API's latest view of each album (catalog enrichment).
-- grain: one album
-- key: album_id
-- partitioned_by: none
SELECT
    album_id,
    album_name,
    album_type,
    label,
    upc,
    release_date,
    release_date_precision,
    total_tracks,
    popularity,
    genres,
    artist_ids,
    artist_names,
    array_to_string(artist_names, ', ') AS artists,
    fetched_at
FROM lake.catalog_albums
