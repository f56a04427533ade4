/*
description = "Trade headline per report day and window: the overall values of the trade and consultation metrics side by side, read from ads_metric_value."
grain = "one row per report day and window"
materialization = "incremental"
owner = "reporting"
tags = ["trade", "report"]

[columns]
window_days = "1, 7 or 30 days ending on the report day."
*/
SELECT
    window_days,
    max(CASE WHEN measure = 'consultation_placed_count' THEN value END) AS consultation_placed_count,
    max(CASE WHEN measure = 'consultation_paid_count' THEN value END) AS consultation_paid_count,
    max(CASE WHEN measure = 'consultation_paid_amount' THEN value END) AS consultation_paid_amount,
    max(CASE WHEN measure = 'prescription_paid_amount' THEN value END) AS prescription_paid_amount,
    max(CASE WHEN measure = 'total_paid_amount' THEN value END) AS total_paid_amount,
    max(CASE WHEN measure = 'paying_users' THEN value END) AS paying_users,
    max(CASE WHEN measure = 'pay_conversion_rate' THEN value END) AS pay_conversion_rate,
    max(CASE WHEN measure = 'good_review_rate' THEN value END) AS good_review_rate
FROM ads_metric_value
WHERE dt = '{{ dt }}' AND dimension = 'overall'
GROUP BY window_days
