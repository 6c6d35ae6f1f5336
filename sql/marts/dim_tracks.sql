-- dim_tracks: the latest known metadata of every track a licensor has streamed, with the Web API catalog.
-- grain: one track per licensor
-- key: licensor, track_id
-- partitioned_by: none
-- The reported part comes from `acc_tracks`, the tracks report folded day by day (each attribute
-- from the latest day that reported it), so a daily build does not re-read the report's history.
-- The catalog (Web API enrichment) fills what the report lacks and adds artist ids, popularity and
-- genres.
SELECT
    r.licensor,
    r.track_id,
    r.track_uri,
    coalesce(r.isrc, c.isrc) AS isrc,
    coalesce(r.track_name, c.track_name) AS track_name,
    coalesce(r.artist_names, c.artist_names) AS artist_names,
    coalesce(r.artists, c.artists) AS artists,
    coalesce(r.album_name, c.album_name) AS album_name,
    r.album_uri,
    r.upc,
    r.label,
    coalesce(r.duration_ms, c.duration_ms) AS duration_ms,
    coalesce(r.release_date, c.release_date) AS release_date,
    coalesce(r.release_year, TRY_CAST(left(c.release_date, 4) AS INTEGER)) AS release_year,
    coalesce(r.is_explicit, c.is_explicit) AS is_explicit,
    r.first_seen_date,
    r.last_seen_date,
    r.days_streamed,
    coalesce(
        CASE WHEN r.album_uri LIKE 'spotify:album:%' THEN split_part(r.album_uri, ':', 3) END, c.album_id
    ) AS album_id,
    c.artist_ids,
    c.popularity,
    c.genres,
    c.track_id IS NOT NULL AS in_catalog,
    c.fetched_at AS catalog_fetched_at
FROM acc_tracks AS r
LEFT JOIN stg_catalog_tracks AS c USING (track_id)
