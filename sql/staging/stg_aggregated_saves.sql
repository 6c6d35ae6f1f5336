-- stg_aggregated_saves: saves per track, country and user plan (Aggregated Streams).
-- grain: one track x country x plan per licensor and day
-- key: licensor, date, track_uri, country, product
-- partitioned_by: date
-- In the totals shape, product is null on country rows and country null on the plan rows (the plan
-- split over all countries): sum rows with a country for countries, rows with a product for plans.
SELECT
    licensor,
    date,
    coalesce(track_id, split_part(track_uri, ':', 3)) AS track_id,
    track_uri,
    upper(country) AS country,
    lower(product) AS product,
    saves
FROM lake.aggregated_saves
