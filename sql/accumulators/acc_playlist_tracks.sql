-- acc_playlist_tracks: every track a licensor has streamed from each playlist, with the first day (dim_playlists).
-- key: licensor, playlist_id, track_id
-- fold: append
-- A set that only grows: a fold adds the pairs it does not hold yet, so `dim_playlists` counts
-- distinct tracks without reading the facts' history again.
SELECT licensor, playlist_id, track_id, min(date) AS first_streamed_date
FROM fct_playlist_streams
WHERE date BETWEEN $start AND $end
GROUP BY licensor, playlist_id, track_id
