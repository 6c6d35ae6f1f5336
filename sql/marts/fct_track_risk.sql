-- fct_track_risk: the artificial-streaming risk of one track on one day: score, flag and reasons.
-- grain: one licensor x day x track with at least one stream of 30 s or more
-- key: licensor, date, track_id
-- partitioned_by: date
-- rolling_days: 29
-- The baseline is the track's 28 days before the day (medians; a new track has none). The flag is
-- the share of the day's streams by suspicious listeners (`fct_suspicious_listeners`): the
-- track-level signals against the baseline add to the score and the reasons, never flag alone, so
-- a genuine spike (editorial playlist, release day) stays quiet. docs/risk.md: how to read a flag.
WITH signals AS (
    SELECT *
    FROM fct_risk_track_signals
    WHERE date BETWEEN CAST($start AS DATE) - 28 AND $end
),
baseline AS (
    SELECT
        d.licensor,
        d.date,
        d.track_id,
        count(h.date) AS baseline_days,
        median(h.streams) AS baseline_streams,
        median(abs(h.streams - m.median_streams)) AS baseline_mad,
        median(h.short_share) AS baseline_short_share,
        median(h.new_account_share) AS baseline_new_account_share,
        median(h.context_free_share) AS baseline_context_free_share,
        median(h.region_top_share) AS baseline_region_top_share,
        median(h.device_top_share) AS baseline_device_top_share,
        median(h.top1pct_share) AS baseline_top1pct_share
    FROM signals AS d
    LEFT JOIN signals AS h
        ON h.licensor = d.licensor AND h.track_id = d.track_id AND h.date BETWEEN d.date - 28 AND d.date - 1
    LEFT JOIN (
        SELECT d2.licensor, d2.date, d2.track_id, median(h2.streams) AS median_streams
        FROM signals AS d2
        JOIN signals AS h2
            ON h2.licensor = d2.licensor AND h2.track_id = d2.track_id
            AND h2.date BETWEEN d2.date - 28 AND d2.date - 1
        WHERE d2.date BETWEEN $start AND $end
        GROUP BY d2.licensor, d2.date, d2.track_id
    ) AS m ON m.licensor = d.licensor AND m.date = d.date AND m.track_id = d.track_id
    WHERE d.date BETWEEN $start AND $end
    GROUP BY d.licensor, d.date, d.track_id
),
suspicious AS (
    SELECT
        licensor,
        date,
        track_id,
        count(*) AS suspicious_listeners,
        CAST(sum(plays) AS BIGINT) AS suspicious_streams,
        sum(plays) FILTER (WHERE is_lockstep) AS lockstep_streams,
        sum(plays) FILTER (WHERE is_regular) AS regular_streams,
        count(*) FILTER (WHERE is_short) AS short_listeners,
        count(*) FILTER (WHERE is_new) AS new_listeners,
        count(*) FILTER (WHERE is_context_free) AS context_free_listeners,
        count(*) FILTER (WHERE is_regular) AS regular_listeners,
        count(*) FILTER (WHERE is_throwaway) AS throwaway_listeners,
        count(*) FILTER (WHERE is_lockstep) AS lockstep_listeners
    FROM fct_suspicious_listeners
    WHERE date BETWEEN $start AND $end
    GROUP BY licensor, date, track_id
),
measured AS (
    SELECT
        s.*,
        b.baseline_days,
        b.baseline_streams,
        (s.streams - b.baseline_streams) / (1.4826 * coalesce(b.baseline_mad, 0) + 1) AS spike_z,
        s.short_share - b.baseline_short_share AS short_share_change,
        s.new_account_share - b.baseline_new_account_share AS new_account_share_change,
        s.context_free_share - b.baseline_context_free_share AS context_free_share_change,
        s.region_top_share - b.baseline_region_top_share AS region_top_share_change,
        s.device_top_share - b.baseline_device_top_share AS device_top_share_change,
        s.top1pct_share - b.baseline_top1pct_share AS top1pct_share_change,
        coalesce(x.suspicious_listeners, 0) AS suspicious_listeners,
        coalesce(x.suspicious_streams, 0) AS suspicious_streams,
        coalesce(x.lockstep_streams, 0) / s.streams AS lockstep_share,
        coalesce(x.regular_streams, 0) / s.streams AS regular_share,
        least(coalesce(x.suspicious_streams, 0) / s.streams, 1.0) AS artificial_share_estimate,
        x.short_listeners,
        x.new_listeners,
        x.context_free_listeners,
        x.regular_listeners,
        x.throwaway_listeners,
        x.lockstep_listeners
    FROM signals AS s
    JOIN baseline AS b USING (licensor, date, track_id)
    LEFT JOIN suspicious AS x USING (licensor, date, track_id)
    WHERE s.date BETWEEN $start AND $end
),
decided AS (
    SELECT
        *,
        artificial_share_estimate >= getvariable('risk_flag_share')
            AND suspicious_streams >= getvariable('risk_flag_min_streams') AS flagged,
        -- Track-level anomalies against the baseline (each 0 or 1): they raise the score, never flag.
        (coalesce(short_share_change, short_share) > 0.2)::INT
            + (coalesce(new_account_share_change, new_account_share) > 0.2)::INT
            + (coalesce(context_free_share_change, context_free_share) > 0.2)::INT
            + (coalesce(region_top_share_change, 0) > 0.2)::INT
            + (coalesce(device_top_share_change, 0) > 0.2)::INT
            + (coalesce(top1pct_share_change, 0) > 0.2)::INT
            + (coalesce(spike_z, 0) > 5)::INT AS anomalies
    FROM measured
)
SELECT
    licensor,
    date,
    track_id,
    CAST(round(100 * least(1.0, 0.8 * least(1.0, artificial_share_estimate / 0.5) + 0.2 * anomalies / 7)) AS INTEGER)
        AS risk_score,
    flagged,
    artificial_share_estimate,
    concat_ws(
        '; ',
        CASE WHEN suspicious_listeners > 0 THEN
            format('{:.0f} % of streams from {} suspicious listener(s)', 100 * artificial_share_estimate,
                suspicious_listeners)
        END,
        CASE WHEN lockstep_listeners > 0 THEN format('{} in a lockstep group', lockstep_listeners) END,
        CASE WHEN short_listeners > 0 THEN format('{} playing just over 30 s', short_listeners) END,
        CASE WHEN new_listeners > 0 THEN format('{} on accounts under 30 days', new_listeners) END,
        CASE WHEN context_free_listeners > 0 THEN format('{} without source or context', context_free_listeners) END,
        CASE WHEN regular_listeners > 0 THEN format('{} with evenly spaced plays', regular_listeners) END,
        CASE WHEN throwaway_listeners > 0 THEN format('{} through a throwaway playlist', throwaway_listeners) END,
        CASE WHEN spike_z > 5 THEN format('streams {:.0f} robust z above the 28-day baseline', spike_z) END,
        CASE WHEN short_share_change > 0.2 THEN 'share of 30-35 s plays up on the baseline' END,
        CASE WHEN new_account_share_change > 0.2 THEN 'share of new accounts up on the baseline' END,
        CASE WHEN region_top_share_change > 0.2 THEN 'streams concentrated in one region' END,
        CASE WHEN device_top_share_change > 0.2 THEN 'streams concentrated on one device type' END
    ) AS reasons,
    streams,
    listeners,
    streams_per_listener,
    loop_share,
    top1pct_share,
    short_share,
    sub30_share,
    new_account_share,
    country_top_share,
    region_top_share,
    device_top_share,
    os_top_share,
    context_free_share,
    hour_entropy,
    regular_share,
    lockstep_share,
    spike_z,
    baseline_days,
    baseline_streams,
    short_share_change,
    new_account_share_change,
    context_free_share_change,
    region_top_share_change,
    device_top_share_change,
    top1pct_share_change,
    suspicious_listeners,
    suspicious_streams,
    anomalies
FROM decided
