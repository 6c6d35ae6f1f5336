-- stg_catalog_tracks: the Web API's latest view of each track (catalog enrichment), with its artists' genres.
-- grain: one track (the Web API catalog is global, not per licensor)
-- key: track_id
-- partitioned_by: none
WITH artist_genres AS (
    SELECT t.track_id, list_sort(list_distinct(flatten(list(a.genres)))) AS genres
    FROM (SELECT track_id, unnest(artist_ids) AS artist_id FROM lake.catalog_tracks) AS t
    JOIN lake.catalog_artists AS a USING (artist_id)
    GROUP BY t.track_id
)
SELECT
    c.track_id,
    c.track_name,
    c.artist_ids,
    c.artist_names,
    array_to_string(c.artist_names, ', ') AS artists,
    c.album_id,
    c.album_name,
    c.isrc,
    c.popularity,
    c.duration_ms,
    c.explicit AS is_explicit,
    c.release_date,
    coalesce(g.genres, CAST([] AS VARCHAR[])) AS genres,
    c.fetched_at
FROM lake.catalog_tracks AS c
LEFT JOIN artist_genres AS g USING (track_id)
