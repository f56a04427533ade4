/*
description = "Prescription paid: the prescription's payment row reached 203. Event time is that update's time; amount payment_amount."
grain = "one row per paid prescription"
materialization = "incremental"

[columns]
payment_id = "Payment id."
prescription_id = "Prescription paid for."
paid_time = "Event time (local)."
amount = "Amount paid, CNY."
*/
WITH pay AS (
    SELECT
        data['id'] AS payment_id,
        data['prescription_id'] AS prescription_id,
        data['user_id'] AS user_id,
        data['update_time'] AS paid_time,
        data['payment_amount'] AS amount,
        row_number() OVER (PARTITION BY data['id'] ORDER BY data['update_time'], ts) AS rn
    FROM ods_payment_inc
    WHERE dt = '{{ dt }}'
      AND data['status'] = 203
      AND data['prescription_id'] IS NOT NULL
      AND CAST(data['update_time'] AS DATE) = DATE '{{ dt }}'
),
rx AS (
    SELECT
        data['id'] AS prescription_id,
        data['doctor_id'] AS doctor_id,
        data['patient_id'] AS patient_id,
        row_number() OVER (PARTITION BY data['id'] ORDER BY ts) AS rn
    FROM ods_prescription_inc
    WHERE dt BETWEEN '{{ dt }}' AND '{{ late_until }}'
)
SELECT
    pay.payment_id, pay.prescription_id, pay.user_id, rx.patient_id, rx.doctor_id,
    pay.paid_time, pay.amount,
    d.hospital_id, d.hospital_name, d.hospital_level, d.province, d.city,
    d.title_label, d.specialty_label,
    p.gender_label AS patient_gender, p.age_group
FROM pay
JOIN rx ON rx.prescription_id = pay.prescription_id AND rx.rn = 1
LEFT JOIN dim_doctor d ON d.dt = '{{ dt }}' AND d.doctor_id = rx.doctor_id
LEFT JOIN dim_patient p ON p.dt = '{{ dt }}' AND p.patient_id = rx.patient_id
WHERE pay.rn = 1
