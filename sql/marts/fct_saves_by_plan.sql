-- fct_saves_by_plan: saves per track and user plan (free, premium, family, ...) on one day.
-- grain: one licensor x day x track x plan (summed over countries)
-- key: licensor, date, track_id, product
-- partitioned_by: date
WITH by_plan AS MATERIALIZED (
    SELECT licensor, date, track_id, product, CAST(sum(saves) AS BIGINT) AS saves
    FROM stg_aggregated_saves
    -- rows without a plan are country totals (the report's totals shape); its plan split is given
    -- over all countries instead (country null), so every save is counted once by plan
    WHERE date BETWEEN $start AND $end AND product IS NOT NULL
    GROUP BY licensor, date, track_id, product
)
SELECT
    licensor,
    date,
    track_id,
    product,
    saves,
    saves / nullif(sum(saves) OVER (PARTITION BY licensor, date, track_id), 0) AS share_of_track_saves
FROM by_plan
