/*
description = "Consultation paid: the fee's payment row reached 203. Event time is that update's time; amount payment_amount."
grain = "one row per paid consultation fee"
materialization = "incremental"
owner = "data-platform"
tags = ["trade", "fact"]

[columns]
payment_id = "Payment id."
consultation_id = "Consultation paid for."
user_id = "Paying user."
patient_id = "Patient."
doctor_id = "Doctor."
paid_time = "Event time (local)."
amount = "Amount paid, CNY."

[[checks]]
kind = "unique"
columns = ["payment_id"]
description = "The grain: one row per paid fee."

[[checks]]
kind = "unique"
columns = ["consultation_id"]
description = "A consultation's fee is paid once (a second payment is a double charge)."

[[checks]]
kind = "not_null"
columns = ["payment_id", "consultation_id", "doctor_id", "amount"]

[[checks]]
kind = "range"
column = "amount"
min = 0

[[checks]]
kind = "relationships"
column = "doctor_id"
to = "dim_doctor.doctor_id"
description = "Every paid consultation's doctor is in the day's doctor dimension."

[[checks]]
kind = "distribution"
column = "amount"
measure = "mean"
band = 0.5
severity = "warn"
description = "The mean fee paid stays within 50% of the trailing week's."
*/
WITH pay AS (
    SELECT
        data['id'] AS payment_id,
        data['consultation_id'] AS consultation_id,
        data['user_id'] AS user_id,
        data['update_time'] AS paid_time,
        data['payment_amount'] AS amount,
        row_number() OVER (PARTITION BY data['id'] ORDER BY data['update_time'], ts) AS rn
    FROM ods_payment_inc
    WHERE dt = '{{ dt }}'
      AND data['status'] = 203
      AND data['consultation_id'] IS NOT NULL
      AND CAST(data['update_time'] AS DATE) = DATE '{{ dt }}'
),
c AS (
    SELECT
        data['id'] AS consultation_id,
        data['patient_id'] AS patient_id,
        data['doctor_id'] AS doctor_id,
        row_number() OVER (PARTITION BY data['id'] ORDER BY ts) AS rn
    FROM ods_consultation_inc
    WHERE dt BETWEEN '{{ dt }}' AND '{{ late_until }}'
)
SELECT
    pay.payment_id, pay.consultation_id, pay.user_id, c.patient_id, c.doctor_id,
    pay.paid_time, pay.amount,
    d.hospital_id, d.hospital_name, d.hospital_level, d.province, d.city,
    d.title_label, d.specialty_label,
    p.gender_label AS patient_gender, p.age_group
FROM pay
JOIN c ON c.consultation_id = pay.consultation_id AND c.rn = 1
LEFT JOIN dim_doctor d ON d.dt = '{{ dt }}' AND d.doctor_id = c.doctor_id
LEFT JOIN dim_patient p ON p.dt = '{{ dt }}' AND p.patient_id = c.patient_id
WHERE pay.rn = 1
