/*
description = "Daily usage per medicine over all hospitals: the daily medicine summary rolled up to the medicine, so that the 7- and 30-day top-N adds up one row per medicine a day."
grain = "one row per day and medicine"
materialization = "incremental"

[columns]
medicine_id = "Medicine id."
line_count = "Prescription lines."
quantity = "Units prescribed."
amount = "Amount prescribed, CNY."
*/
SELECT
    medicine_id, max(medicine_name) AS medicine_name, max(dose_type) AS dose_type,
    CAST(sum(line_count) AS BIGINT) AS line_count,
    CAST(sum(quantity) AS BIGINT) AS quantity,
    CAST(sum(amount) AS DECIMAL(19, 2)) AS amount
FROM dws_medicine_1d
WHERE dt = '{{ dt }}'
GROUP BY medicine_id
