-- stg_tracks: catalog metadata of the tracks streamed that day, as the Bulk API reports it.
-- grain: one track per licensor and day
-- key: licensor, date, track_id
-- partitioned_by: date
SELECT
    licensor,
    date,
    track_id,
    track_uri,
    isrc,
    track_name,
    artist_names,
    array_to_string(artist_names, ', ') AS artists,
    album_name,
    album_uri,
    upc,
    label,
    duration_ms,
    release_date,
    TRY_CAST(left(release_date, 4) AS INTEGER) AS release_year,
    explicit AS is_explicit
FROM lake.tracks
