/*
description = "Hospitals ranked by amount paid (consultations and prescriptions) per report day and window, with their consultations paid and good-review rate."
grain = "one row per report day, window and hospital"
materialization = "incremental"

[columns]
rank = "1 = most paid."
hospital_id = "Hospital id."
*/
WITH h AS (
    SELECT
        window_days,
        dimension_value AS hospital_id,
        max(dimension_label) AS hospital_name,
        max(CASE WHEN measure = 'total_paid_amount' THEN value END) AS total_paid_amount,
        max(CASE WHEN measure = 'consultation_paid_count' THEN value END) AS consultation_paid_count,
        max(CASE WHEN measure = 'good_review_rate' THEN value END) AS good_review_rate
    FROM ads_metric_value
    WHERE dt = '{{ dt }}' AND dimension = 'hospital'
    GROUP BY window_days, dimension_value
)
SELECT
    window_days,
    CAST(row_number() OVER (PARTITION BY window_days ORDER BY total_paid_amount DESC NULLS LAST, hospital_id) AS BIGINT) AS rank,
    hospital_id, hospital_name, total_paid_amount, consultation_paid_count, good_review_rate
FROM h
