/*
description = "Daily medicine usage per medicine and hospital: lines, units and amount prescribed."
grain = "one row per day, medicine and hospital"
materialization = "incremental"

[columns]
line_count = "Prescription lines."
quantity = "Units prescribed."
amount = "Amount prescribed, CNY."
*/
SELECT
    medicine_id, medicine_name, dose_type, hospital_id, hospital_name, province,
    CAST(count(*) AS BIGINT) AS line_count,
    CAST(sum(quantity) AS BIGINT) AS quantity,
    CAST(sum(amount) AS DECIMAL(19, 2)) AS amount
FROM dwd_prescription_line
WHERE dt = '{{ dt }}'
GROUP BY medicine_id, medicine_name, dose_type, hospital_id, hospital_name, province
