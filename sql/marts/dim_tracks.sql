-- dim_tracks: the latest known metadata of every track a licensor has streamed.
-- grain: one track per licensor
-- key: licensor, track_id
-- partitioned_by: none
-- One pass of hash aggregation over the small tracks report (one row per track and day): each
-- attribute is taken from the latest day that reported it.
SELECT
    licensor,
    track_id,
    arg_max(track_uri, date) AS track_uri,
    arg_max(isrc, date) AS isrc,
    arg_max(track_name, date) AS track_name,
    arg_max(artist_names, date) AS artist_names,
    arg_max(artists, date) AS artists,
    arg_max(album_name, date) AS album_name,
    arg_max(album_uri, date) AS album_uri,
    arg_max(upc, date) AS upc,
    arg_max(label, date) AS label,
    arg_max(duration_ms, date) AS duration_ms,
    arg_max(release_date, date) AS release_date,
    arg_max(release_year, date) AS release_year,
    arg_max(is_explicit, date) AS is_explicit,
    min(date) AS first_seen_date,
    max(date) AS last_seen_date,
    count(*) AS days_streamed
FROM stg_tracks
GROUP BY licensor, track_id
