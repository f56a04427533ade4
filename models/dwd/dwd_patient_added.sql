/*
description = "Patient added: a user added a patient (create_time on the day)."
grain = "one row per new patient"
materialization = "incremental"

[columns]
patient_id = "Patient id."
user_id = "User who added the patient."
added_time = "Event time (local)."
patient_gender = "Gender label."
age_group = "Age group on the day."
*/
SELECT
    f.id AS patient_id, f.user_id, f.create_time AS added_time,
    p.gender_label AS patient_gender, p.age_group
FROM ods_patient_full f
JOIN dim_patient p ON p.dt = '{{ dt }}' AND p.patient_id = f.id
WHERE f.dt = '{{ dt }}' AND CAST(f.create_time AS DATE) = DATE '{{ dt }}'
