/*
description = "Consultation placed: a consultation row was created. Event time consultation.create_time; amount the fee. Doctor, hospital and patient attributes as they were on the event day."
grain = "one row per consultation"
materialization = "incremental"

[columns]
consultation_id = "Consultation id."
user_id = "Paying user."
patient_id = "Patient."
doctor_id = "Doctor."
placed_time = "Event time (local)."
fee = "Consultation fee, CNY."
hospital_id = "Hospital of the doctor."
hospital_level = "Grade of that hospital."
province = "Province of that hospital."
city = "City of that hospital."
title_label = "Doctor's title on the day."
specialty_label = "Doctor's specialty."
patient_gender = "Patient gender label."
age_group = "Patient age group on the day."

[[checks]]
kind = "unique"
columns = ["consultation_id"]

[[checks]]
kind = "relationships"
column = "doctor_id"
to = "dim_doctor.doctor_id"

[[checks]]
kind = "volume"
baseline = "daily"
days = 7
band = 0.4
description = "The day's consultations within 40% of the trailing week's mean (a drop means lost data)."
*/
WITH c AS (
    SELECT
        data['id'] AS consultation_id,
        data['user_id'] AS user_id,
        data['patient_id'] AS patient_id,
        data['doctor_id'] AS doctor_id,
        data['create_time'] AS placed_time,
        data['consultation_fee'] AS fee,
        row_number() OVER (PARTITION BY data['id'] ORDER BY ts) AS rn
    FROM ods_consultation_inc
    WHERE dt BETWEEN '{{ dt }}' AND '{{ late_until }}' AND CAST(data['create_time'] AS DATE) = DATE '{{ dt }}'
)
SELECT
    c.consultation_id, c.user_id, c.patient_id, c.doctor_id, c.placed_time, c.fee,
    d.hospital_id, d.hospital_name, d.hospital_level, d.province, d.city,
    d.title_label, d.specialty_label,
    p.gender_label AS patient_gender, p.age_group
FROM c
LEFT JOIN dim_doctor d ON d.dt = '{{ dt }}' AND d.doctor_id = c.doctor_id
LEFT JOIN dim_patient p ON p.dt = '{{ dt }}' AND p.patient_id = c.patient_id
WHERE c.rn = 1
