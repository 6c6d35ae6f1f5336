-- dim_country: ISO 3166-1 countries with English names and UN M49 regions (shipped as data).
-- grain: one country or territory
-- key: country_code
-- partitioned_by: none
SELECT
    upper(country_code) AS country_code,
    country_name,
    region,
    sub_region
FROM seeds.countries
