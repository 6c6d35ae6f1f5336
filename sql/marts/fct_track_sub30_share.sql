-- fct_track_sub30_share: streams of 30 s or more vs. shorter streams, per track and day.
-- grain: one licensor x day x track with at least one stream of any length
-- key: licensor, date, track_id
-- partitioned_by: date
WITH full_streams AS (
    SELECT licensor, date, track_id, count(*) AS streams
    FROM stg_streams
    WHERE date BETWEEN $start AND $end
    GROUP BY licensor, date, track_id
),
short_streams AS (
    SELECT licensor, date, track_id, count(*) AS sub30_streams
    FROM stg_sub30_streams
    WHERE date BETWEEN $start AND $end
    GROUP BY licensor, date, track_id
),
joined AS (
    SELECT
        coalesce(f.licensor, s.licensor) AS licensor,
        coalesce(f.date, s.date) AS date,
        coalesce(f.track_id, s.track_id) AS track_id,
        coalesce(f.streams, 0) AS streams,
        coalesce(s.sub30_streams, 0) AS sub30_streams
    FROM full_streams AS f
    FULL OUTER JOIN short_streams AS s
        ON f.licensor = s.licensor AND f.date = s.date AND f.track_id = s.track_id
)
SELECT
    licensor,
    date,
    track_id,
    streams,
    sub30_streams,
    streams + sub30_streams AS all_streams,
    sub30_streams / (streams + sub30_streams) AS sub30_share
FROM joined
