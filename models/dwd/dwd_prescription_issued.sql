/*
description = "Prescription issued: a prescription header was created. Event time prescription.create_time; amount total_amount. Lines are in dwd_prescription_line."
grain = "one row per prescription"
materialization = "incremental"

[columns]
prescription_id = "Prescription id."
consultation_id = "Consultation it belongs to."
issued_time = "Event time (local)."
total_amount = "Sum of its lines, CNY."
*/
WITH rx AS (
    SELECT
        data['id'] AS prescription_id,
        data['consultation_id'] AS consultation_id,
        data['doctor_id'] AS doctor_id,
        data['patient_id'] AS patient_id,
        data['create_time'] AS issued_time,
        data['total_amount'] AS total_amount,
        row_number() OVER (PARTITION BY data['id'] ORDER BY ts) AS rn
    FROM ods_prescription_inc
    WHERE dt BETWEEN '{{ dt }}' AND '{{ late_until }}' AND CAST(data['create_time'] AS DATE) = DATE '{{ dt }}'
)
SELECT
    rx.prescription_id, rx.consultation_id, p.user_id, rx.patient_id, rx.doctor_id,
    rx.issued_time, rx.total_amount,
    d.hospital_id, d.hospital_name, d.hospital_level, d.province, d.city,
    d.title_label, d.specialty_label,
    p.gender_label AS patient_gender, p.age_group
FROM rx
LEFT JOIN dim_doctor d ON d.dt = '{{ dt }}' AND d.doctor_id = rx.doctor_id
LEFT JOIN dim_patient p ON p.dt = '{{ dt }}' AND p.patient_id = rx.patient_id
WHERE rx.rn = 1
