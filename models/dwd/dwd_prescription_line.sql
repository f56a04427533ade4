/*
description = "Prescription lines: one medicine of an issued prescription, priced at the day's catalogue price. Event time is the prescription's create_time."
grain = "one row per prescription line"
materialization = "incremental"

[columns]
detail_id = "Line id."
prescription_id = "Prescription."
medicine_id = "Medicine."
dose_type = "Dosage form of the medicine."
quantity = "Units prescribed."
amount = "quantity x unit price, CNY."
*/
WITH line AS (
    SELECT
        data['id'] AS detail_id,
        data['prescription_id'] AS prescription_id,
        data['medicine_id'] AS medicine_id,
        data['count'] AS quantity,
        data['create_time'] AS issued_time,
        row_number() OVER (PARTITION BY data['id'] ORDER BY ts) AS rn
    FROM ods_prescription_detail_inc
    WHERE dt BETWEEN '{{ dt }}' AND '{{ late_until }}' AND CAST(data['create_time'] AS DATE) = DATE '{{ dt }}'
)
SELECT
    line.detail_id, line.prescription_id, line.medicine_id, m.medicine_name, m.dose_type,
    line.quantity, line.issued_time, m.price,
    CAST(line.quantity AS DECIMAL(19, 2)) * m.price AS amount,
    rx.doctor_id, rx.hospital_id, rx.hospital_name, rx.province
FROM line
LEFT JOIN dim_medicine m ON m.dt = '{{ dt }}' AND m.medicine_id = line.medicine_id
LEFT JOIN dwd_prescription_issued rx ON rx.dt = '{{ dt }}' AND rx.prescription_id = line.prescription_id
WHERE line.rn = 1
