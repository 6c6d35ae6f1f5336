-- fct_daily_streams: streams per track, country, source, access and device on one day.
-- grain: one licensor x day x track x country x source x access x device type
-- key: licensor, date, track_id, country, source, access, device_type
-- partitioned_by: date
SELECT
    licensor,
    date,
    track_id,
    country,
    source,
    access,
    device_type,
    count(*) AS streams,
    count(DISTINCT user_id) AS listeners,
    count(*) FILTER (WHERE is_completed) AS completed_streams,
    count(*) FILTER (WHERE is_completed) / count(*) AS completion_rate,
    count(*) FILTER (WHERE is_discovery) AS discovery_streams,
    avg(stream_length_ms) AS avg_stream_length_ms
FROM stg_streams
WHERE date BETWEEN $start AND $end
GROUP BY licensor, date, track_id, country, source, access, device_type
