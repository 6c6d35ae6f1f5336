-- acc_playlists: per licensor and playlist, the streams from it and the first and last day with any (dim_playlists).
-- key: licensor, playlist_id
-- fold: merge
SELECT
    licensor,
    playlist_id,
    CAST(sum(streams) AS BIGINT) AS streams,
    min(date) AS first_streamed_date,
    max(date) AS last_streamed_date
FROM fct_playlist_streams
WHERE date BETWEEN $start AND $end
GROUP BY licensor, playlist_id;

SELECT
    licensor,
    playlist_id,
    CAST(sum(streams) AS BIGINT) AS streams,
    min(first_streamed_date) AS first_streamed_date,
    max(last_streamed_date) AS last_streamed_date
FROM parts
GROUP BY licensor, playlist_id
