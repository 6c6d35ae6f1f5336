-- dim_artists: every artist of a track a licensor has streamed, with Web API genres, popularity, followers.
-- grain: one artist per licensor
-- key: licensor, artist_id
-- partitioned_by: none
-- Artist ids come from the Aggregated Streams report (artist uris) and the Web API's track objects
-- (the tracks report names artists without ids); names from the catalog, else the report.
-- The report's credits come folded day by day (`acc_artist_credits`), so a daily build does not
-- re-read the report's history.
WITH catalogued AS (
    SELECT licensor, track_id, first_seen_date, last_seen_date, unnest(artist_ids) AS artist_id
    FROM dim_tracks
    WHERE artist_ids IS NOT NULL
),
credits AS (
    SELECT licensor, artist_id, track_id, first_date, last_date, reported_name, reported_name_on
    FROM acc_artist_credits
    UNION ALL
    SELECT licensor, artist_id, track_id, first_seen_date, last_seen_date, NULL, NULL
    FROM catalogued
),
streamed AS (
    SELECT
        licensor,
        artist_id,
        count(DISTINCT track_id) AS tracks_streamed,
        min(first_date) AS first_seen_date,
        max(last_date) AS last_seen_date,
        arg_max(reported_name, {'on': reported_name_on, 'name': reported_name})
            FILTER (WHERE reported_name IS NOT NULL) AS reported_name
    FROM credits
    GROUP BY licensor, artist_id
)
SELECT
    s.licensor,
    s.artist_id,
    'spotify:artist:' || s.artist_id AS artist_uri,
    coalesce(a.artist_name, s.reported_name) AS artist_name,
    a.genres,
    a.popularity,
    a.followers,
    s.tracks_streamed,
    s.first_seen_date,
    s.last_seen_date,
    a.artist_id IS NOT NULL AS in_catalog,
    a.fetched_at AS catalog_fetched_at
FROM streamed AS s
LEFT JOIN stg_catalog_artists AS a USING (artist_id)
