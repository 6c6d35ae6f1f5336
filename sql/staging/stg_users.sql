-- stg_users: users who streamed that day, with an age group in the Bulk API's buckets.
-- grain: one user per licensor and day
-- key: licensor, date, user_id
-- partitioned_by: date
SELECT
    licensor,
    date,
    user_id,
    birth_year,
    year(date) - birth_year AS age,
    CASE
        WHEN birth_year IS NULL THEN 'unknown'
        WHEN year(date) - birth_year < 18 THEN '0-17'
        WHEN year(date) - birth_year <= 22 THEN '18-22'
        WHEN year(date) - birth_year <= 27 THEN '23-27'
        WHEN year(date) - birth_year <= 34 THEN '28-34'
        WHEN year(date) - birth_year <= 44 THEN '35-44'
        WHEN year(date) - birth_year <= 59 THEN '45-59'
        ELSE '60-150'
    END AS age_group,
    coalesce(nullif(lower(gender), ''), 'unknown') AS gender,
    upper(country) AS country,
    region_code,
    coalesce(nullif(lower(product), ''), 'unknown') AS product,
    account_age_days
FROM lake.users
