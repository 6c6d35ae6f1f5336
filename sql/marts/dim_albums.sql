-- dim_albums: every album a licensor has streamed a track of, from the tracks report and the Web API catalog.
-- grain: one album per licensor
-- key: licensor, album_id
-- partitioned_by: none
WITH streamed AS (
    SELECT
        licensor,
        album_id,
        arg_max(album_uri, last_seen_date) AS album_uri,
        arg_max(album_name, last_seen_date) AS album_name,
        arg_max(upc, last_seen_date) AS upc,
        arg_max(label, last_seen_date) AS label,
        arg_max(release_date, last_seen_date) AS release_date,
        count(*) AS tracks_streamed,
        min(first_seen_date) AS first_seen_date,
        max(last_seen_date) AS last_seen_date
    FROM dim_tracks
    WHERE album_id IS NOT NULL
    GROUP BY licensor, album_id
)
SELECT
    s.licensor,
    s.album_id,
    coalesce(s.album_uri, 'spotify:album:' || s.album_id) AS album_uri,
    coalesce(s.album_name, c.album_name) AS album_name,
    c.album_type,
    c.artists,
    coalesce(s.label, c.label) AS label,
    coalesce(s.upc, c.upc) AS upc,
    coalesce(s.release_date, c.release_date) AS release_date,
    TRY_CAST(left(coalesce(s.release_date, c.release_date), 4) AS INTEGER) AS release_year,
    c.total_tracks,
    s.tracks_streamed,
    c.popularity,
    c.genres,
    s.first_seen_date,
    s.last_seen_date,
    c.album_id IS NOT NULL AS in_catalog,
    c.fetched_at AS catalog_fetched_at
FROM streamed AS s
LEFT JOIN stg_catalog_albums AS c USING (album_id)
