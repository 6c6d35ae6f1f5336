-- fct_suspicious_listeners: a listener whose plays of a track on a day look artificial, and why.
-- grain: one licensor x day x pseudonymous listener x track judged suspicious
-- key: licensor, date, listener, track_id
-- partitioned_by: date
-- Personal data: `listener` is a pseudonym (a hash of the lake's user id, itself an HMAC pseudonym
-- when landing pseudonymizes); retention deletes these partitions with the lake's (docs/risk.md).
-- A listener is suspicious on a track when they loop it (risk_loop_plays or more plays that day)
-- and show at least risk_min_markers bot markers (short plays, a new account, plays without
-- context, clockwork spacing, a throwaway playlist), or when they belong to a lockstep block.
WITH plays AS NOT MATERIALIZED (
    SELECT
        s.licensor,
        s.date,
        s.user_id,
        s.track_id,
        s.stream_ts,
        s.stream_length_ms < getvariable('risk_short_max_ms') AS is_short,
        s.source IN ('other', 'unknown') AND s.source_uri IS NULL AS is_context_free,
        s.playlist_id
    FROM stg_streams AS s
    WHERE s.date BETWEEN $start AND $end
),
accounts AS (
    SELECT licensor, date, user_id, account_age_days
    FROM stg_users
    WHERE date BETWEEN $start AND $end
),
listener_tracks AS MATERIALIZED (
    SELECT
        licensor,
        date,
        user_id,
        track_id,
        count(*) AS plays,
        avg(is_short::INT) AS short_share,
        avg(is_context_free::INT) AS context_free_share,
        max(playlist_id) AS playlist_id
    FROM plays
    GROUP BY licensor, date, user_id, track_id
),
gaps AS (
    -- Spacing of the plays of loops only: sorting every stream would cost the whole day.
    SELECT
        p.licensor,
        p.date,
        p.user_id,
        p.track_id,
        epoch_ms(p.stream_ts) - lag(epoch_ms(p.stream_ts)) OVER (
            PARTITION BY p.licensor, p.date, p.user_id, p.track_id ORDER BY p.stream_ts
        ) AS gap_ms
    FROM plays AS p
    SEMI JOIN listener_tracks AS l
        ON l.licensor = p.licensor AND l.date = p.date AND l.user_id = p.user_id AND l.track_id = p.track_id
        AND l.plays >= greatest(getvariable('risk_loop_plays'), getvariable('risk_regular_min_plays'))
),
spacing AS (
    -- std / mean of the gaps from exact integer sums (not stddev_pop, whose float steps depend on
    -- the order rows arrive in), so a rebuild gives the same value.
    SELECT
        licensor,
        date,
        user_id,
        track_id,
        sqrt(greatest(sum(gap_ms * gap_ms) / count(*) - (sum(gap_ms) / count(*)) ** 2, 0))
            / nullif(sum(gap_ms) / count(*), 0) AS gap_cv
    FROM gaps
    WHERE gap_ms IS NOT NULL
    GROUP BY licensor, date, user_id, track_id
),
throwaway_playlists AS (
    -- Playlists whose listeners that day are mostly new accounts: made for the farm.
    SELECT l.licensor, l.date, l.playlist_id
    FROM listener_tracks AS l
    JOIN accounts AS a USING (licensor, date, user_id)
    WHERE l.playlist_id IS NOT NULL
    GROUP BY l.licensor, l.date, l.playlist_id
    HAVING avg((a.account_age_days < getvariable('risk_new_account_days'))::INT)
        >= getvariable('risk_throwaway_new_share')
),
user_totals AS (
    SELECT licensor, date, user_id, count(*) AS tracks, sum(plays) AS plays
    FROM listener_tracks
    GROUP BY licensor, date, user_id
    HAVING count(*) >= getvariable('risk_lockstep_min_tracks')
),
min_hashes AS (
    -- MinHash of each multi-track listener's set of tracks, three ways: listeners with (nearly)
    -- the same set share a bucket in at least one of them.
    SELECT l.licensor, l.date, l.user_id, k.way, min(hash(l.track_id, k.way)) AS bucket
    FROM listener_tracks AS l
    SEMI JOIN user_totals AS u ON u.licensor = l.licensor AND u.date = l.date AND u.user_id = l.user_id
    CROSS JOIN range(3) AS k (way)
    GROUP BY l.licensor, l.date, l.user_id, k.way
),
buckets AS (
    SELECT licensor, date, way, bucket, count(*) AS members
    FROM min_hashes
    GROUP BY licensor, date, way, bucket
    HAVING count(*) >= getvariable('risk_lockstep_min_users')
),
bucket_tracks AS (
    -- The block's tracks: those most of the bucket's members stream.
    SELECT m.licensor, m.date, m.way, m.bucket, l.track_id
    FROM min_hashes AS m
    JOIN buckets AS b USING (licensor, date, way, bucket)
    JOIN listener_tracks AS l USING (licensor, date, user_id)
    GROUP BY m.licensor, m.date, m.way, m.bucket, l.track_id
    HAVING count(*) >= getvariable('risk_lockstep_coverage') * any_value(b.members)
),
blocks AS (
    SELECT licensor, date, way, bucket, count(*) AS block_tracks
    FROM bucket_tracks
    GROUP BY licensor, date, way, bucket
    HAVING count(*) >= getvariable('risk_lockstep_min_tracks')
),
block_members AS (
    -- Members that stream most of the block's tracks and little else: the dense user x track block.
    SELECT m.licensor, m.date, m.user_id, b.way, b.bucket
    FROM min_hashes AS m
    JOIN blocks AS b USING (licensor, date, way, bucket)
    JOIN bucket_tracks AS t USING (licensor, date, way, bucket)
    JOIN listener_tracks AS l USING (licensor, date, user_id, track_id)
    JOIN user_totals AS u USING (licensor, date, user_id)
    GROUP BY m.licensor, m.date, m.user_id, b.way, b.bucket
    HAVING count(*) >= getvariable('risk_lockstep_coverage') * any_value(b.block_tracks)
        AND sum(l.plays) >= getvariable('risk_lockstep_focus') * any_value(u.plays)
),
lockstep AS (
    -- A member's plays of every track count: it streams little besides the block.
    SELECT m.licensor, m.date, m.user_id, l.track_id, min(m.bucket) AS block
    FROM block_members AS m
    JOIN listener_tracks AS l USING (licensor, date, user_id)
    GROUP BY m.licensor, m.date, m.user_id, l.track_id
),
judged AS (
    SELECT
        l.licensor,
        l.date,
        l.user_id,
        l.track_id,
        l.plays,
        a.account_age_days,
        l.short_share,
        l.context_free_share,
        s.gap_cv,
        k.block AS lockstep_block,
        l.plays >= getvariable('risk_loop_plays') AS is_loop,
        l.short_share >= getvariable('risk_short_share') AS is_short,
        coalesce(a.account_age_days < getvariable('risk_new_account_days'), false) AS is_new,
        l.context_free_share >= getvariable('risk_context_free_share') AS is_context_free,
        coalesce(s.gap_cv < getvariable('risk_regular_cv'), false) AS is_regular,
        w.playlist_id IS NOT NULL AS is_throwaway,
        k.block IS NOT NULL AS is_lockstep
    FROM listener_tracks AS l
    LEFT JOIN accounts AS a USING (licensor, date, user_id)
    LEFT JOIN spacing AS s USING (licensor, date, user_id, track_id)
    LEFT JOIN throwaway_playlists AS w USING (licensor, date, playlist_id)
    LEFT JOIN lockstep AS k USING (licensor, date, user_id, track_id)
    -- Only loops and lockstep members can be suspicious: judge those, not every listener.
    WHERE l.plays >= getvariable('risk_loop_plays') OR k.block IS NOT NULL
),
scored AS (
    SELECT
        *,
        is_short::INT + is_new::INT + is_context_free::INT + is_regular::INT + is_throwaway::INT AS markers
    FROM judged
)
SELECT
    licensor,
    date,
    'L' || left(sha256(user_id), 16) AS listener,
    track_id,
    plays,
    account_age_days,
    short_share,
    context_free_share,
    gap_cv,
    is_loop,
    is_short,
    is_new,
    is_context_free,
    is_regular,
    is_throwaway,
    is_lockstep,
    CASE WHEN is_lockstep THEN 'B' || left(sha256(CAST(lockstep_block AS VARCHAR)), 8) END AS lockstep_block,
    markers,
    concat_ws(
        '; ',
        CASE WHEN is_loop THEN plays || ' plays in a day' END,
        CASE WHEN is_short THEN 'plays just over 30 s' END,
        CASE WHEN is_new THEN 'account ' || account_age_days || ' days old' END,
        CASE WHEN is_context_free THEN 'no source or context' END,
        CASE WHEN is_regular THEN 'evenly spaced plays' END,
        CASE WHEN is_throwaway THEN 'through a playlist of new accounts' END,
        CASE WHEN is_lockstep THEN 'streams in lockstep with a group of listeners' END
    ) AS reasons
FROM scored
WHERE is_lockstep OR (is_loop AND markers >= getvariable('risk_min_markers'))
