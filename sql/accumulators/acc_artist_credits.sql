-- acc_artist_credits: per licensor, artist and track the Aggregated Streams report credits, the first and last day and the latest name (dim_artists).
-- key: licensor, artist_id, track_id
-- fold: merge
-- The name is the one of the latest day that gave one (`reported_name_on`); on a tie, the greatest
-- name, so the choice does not depend on the order rows arrive in.
WITH reported AS (
    SELECT licensor, date, track_id, unnest(artist_uris) AS artist_uri, unnest(artist_names) AS artist_name
    FROM stg_aggregated_summary
    WHERE date BETWEEN $start AND $end
)
SELECT
    licensor,
    split_part(artist_uri, ':', 3) AS artist_id,
    track_id,
    min(date) AS first_date,
    max(date) AS last_date,
    arg_max(artist_name, {'on': date, 'name': artist_name})
        FILTER (WHERE artist_name IS NOT NULL) AS reported_name,
    max(date) FILTER (WHERE artist_name IS NOT NULL) AS reported_name_on
FROM reported
WHERE artist_uri LIKE 'spotify:artist:%'
GROUP BY licensor, artist_id, track_id;

SELECT
    licensor,
    artist_id,
    track_id,
    min(first_date) AS first_date,
    max(last_date) AS last_date,
    arg_max(reported_name, {'on': reported_name_on, 'name': reported_name})
        FILTER (WHERE reported_name IS NOT NULL) AS reported_name,
    max(reported_name_on) AS reported_name_on
FROM parts
GROUP BY licensor, artist_id, track_id
