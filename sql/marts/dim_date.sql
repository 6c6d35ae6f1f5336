-- dim_date: calendar attributes of every day from 2015 through 2040.
-- grain: one calendar day
-- key: date
-- partitioned_by: none
WITH days AS (
    SELECT CAST(day AS DATE) AS date
    FROM range(DATE '2015-01-01', DATE '2041-01-01', INTERVAL 1 DAY) AS t(day)
)
SELECT
    date,
    year(date) AS year,
    quarter(date) AS quarter,
    month(date) AS month,
    monthname(date) AS month_name,
    day(date) AS day_of_month,
    isodow(date) AS day_of_week,
    dayname(date) AS day_name,
    isodow(date) >= 6 AS is_weekend,
    dayofyear(date) AS day_of_year,
    isoyear(date) AS iso_year,
    week(date) AS iso_week,
    CAST(date_trunc('week', date) AS DATE) AS week_start,
    CAST(date_trunc('month', date) AS DATE) AS month_start
FROM days
