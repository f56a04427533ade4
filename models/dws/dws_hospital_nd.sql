/*
description = "Each hospital's funnel over the 7 and 30 days ending on the day: sums of the daily hospital summary, with rates as ratios of the window's sums."
grain = "one row per day, window and hospital"
materialization = "incremental"

[columns]
window_days = "7 or 30 days ending on the day."
hospital_id = "Hospital id."
placed_count = "Consultations placed in the window."
paid_count = "Consultations paid in the window."
paid_amount = "Consultation fees paid in the window, CNY."
rx_paid_amount = "Prescriptions paid in the window, CNY."
pay_conversion_rate = "paid_count / placed_count."
good_review_rate = "good_review_count / review_count."
*/
WITH w AS (
    SELECT 7 AS window_days, '{{ dt - 6 }}' AS since
    UNION ALL SELECT 30, '{{ dt - 29 }}'
),
sums AS (
    SELECT
        w.window_days, s.hospital_id, max(s.hospital_name) AS hospital_name,
        max(s.hospital_level) AS hospital_level, max(s.province) AS province,
        CAST(sum(s.placed_count) AS BIGINT) AS placed_count,
        CAST(sum(s.paid_count) AS BIGINT) AS paid_count,
        CAST(sum(s.paid_amount) AS DECIMAL(19, 2)) AS paid_amount,
        CAST(sum(s.rx_paid_amount) AS DECIMAL(19, 2)) AS rx_paid_amount,
        CAST(sum(s.review_count) AS BIGINT) AS review_count,
        CAST(sum(s.good_review_count) AS BIGINT) AS good_review_count
    FROM dws_hospital_1d s
    JOIN w ON s.dt >= w.since
    WHERE s.dt >= '{{ dt - 29 }}' AND s.dt <= '{{ dt }}'
    GROUP BY w.window_days, s.hospital_id
)
SELECT
    *,
    CAST(paid_count AS DOUBLE) / nullif(CAST(placed_count AS DOUBLE), 0) AS pay_conversion_rate,
    CAST(good_review_count AS DOUBLE) / nullif(CAST(review_count AS DOUBLE), 0) AS good_review_rate
FROM sums
