/*
description = "Daily funnel per hospital: the daily consultation summary rolled up to the hospital, so that 7- and 30-day hospital windows add up a few hundred rows a day."
grain = "one row per day and hospital"
materialization = "incremental"

[columns]
hospital_id = "Hospital id."
placed_count = "Consultations placed."
paid_count = "Consultations paid."
paid_amount = "Consultation fees paid, CNY."
rx_paid_amount = "Prescriptions paid, CNY."
review_count = "Reviews written."
good_review_count = "Reviews with rating 5."
*/
SELECT
    hospital_id, max(hospital_name) AS hospital_name,
    max(hospital_level) AS hospital_level, max(province) AS province,
    CAST(sum(placed_count) AS BIGINT) AS placed_count,
    CAST(sum(paid_count) AS BIGINT) AS paid_count,
    CAST(sum(paid_amount) AS DECIMAL(19, 2)) AS paid_amount,
    CAST(sum(rx_paid_amount) AS DECIMAL(19, 2)) AS rx_paid_amount,
    CAST(sum(review_count) AS BIGINT) AS review_count,
    CAST(sum(good_review_count) AS BIGINT) AS good_review_count
FROM dws_consultation_1d
WHERE dt = '{{ dt }}' AND hospital_id IS NOT NULL
GROUP BY hospital_id
