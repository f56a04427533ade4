/*
description = "The 20 medicines prescribed most (by units) per report day and window."
grain = "one row per report day, window and medicine"
materialization = "incremental"

[columns]
rank = "1 = most units."
quantity = "Units prescribed in the window."
amount = "Amount prescribed in the window, CNY."
*/
WITH w AS (
    SELECT 1 AS window_days, '{{ dt }}' AS since
    UNION ALL SELECT 7, '{{ dt - 6 }}'
    UNION ALL SELECT 30, '{{ dt - 29 }}'
),
usage AS (
    SELECT w.window_days, m.medicine_id, max(m.medicine_name) AS medicine_name, max(m.dose_type) AS dose_type,
           CAST(sum(m.quantity) AS BIGINT) AS quantity, CAST(sum(m.amount) AS DECIMAL(19, 2)) AS amount
    FROM dws_medicine_usage_1d m
    JOIN w ON m.dt >= w.since
    WHERE m.dt >= '{{ dt - 29 }}' AND m.dt <= '{{ dt }}'
    GROUP BY w.window_days, m.medicine_id
),
ranked AS (
    SELECT *, CAST(row_number() OVER (PARTITION BY window_days ORDER BY quantity DESC, medicine_id) AS BIGINT) AS rank
    FROM usage
)
SELECT window_days, rank, medicine_id, medicine_name, dose_type, quantity, amount
FROM ranked
WHERE rank <= 20
