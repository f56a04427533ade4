/*
description = "The calendar: one row per business day, with its weekday and week."
grain = "one row per day"
materialization = "incremental"
# Facts of the build day itself: no table is read.
constant = ["date_id", "year", "month", "day_of_month", "weekday", "is_weekend"]

[columns]
date_id = "The business day."
year = "Calendar year."
month = "Month 1-12."
day_of_month = "Day of the month."
weekday = "ISO weekday, 1 Monday .. 7 Sunday."
is_weekend = "Saturday or Sunday."
*/
SELECT
    DATE '{{ dt }}' AS date_id,
    CAST(date_part('year', DATE '{{ dt }}') AS INT) AS year,
    CAST(date_part('month', DATE '{{ dt }}') AS INT) AS month,
    CAST(date_part('day', DATE '{{ dt }}') AS INT) AS day_of_month,
    CAST(CASE WHEN date_part('dow', DATE '{{ dt }}') = 0 THEN 7 ELSE date_part('dow', DATE '{{ dt }}') END AS INT) AS weekday,
    date_part('dow', DATE '{{ dt }}') IN (0, 6) AS is_weekend
