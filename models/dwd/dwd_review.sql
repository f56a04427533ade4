/*
description = "Review: the consultation reached 207 (rating and review written). Event time is that update's time; a good review has rating 5."
grain = "one row per reviewed consultation"
materialization = "incremental"

[columns]
consultation_id = "Consultation reviewed."
reviewed_time = "Event time (local)."
rating = "1-5."
is_good = "rating = 5."

[[checks]]
kind = "range"
column = "rating"
min = 1
max = 5
description = "Ratings are 1 to 5 stars."

[[checks]]
kind = "unique"
columns = ["consultation_id"]
*/
WITH r AS (
    SELECT
        data['id'] AS consultation_id,
        data['user_id'] AS user_id,
        data['patient_id'] AS patient_id,
        data['doctor_id'] AS doctor_id,
        data['update_time'] AS reviewed_time,
        data['rating'] AS rating,
        row_number() OVER (PARTITION BY data['id'] ORDER BY data['update_time'], ts) AS rn
    FROM ods_consultation_inc
    WHERE dt = '{{ dt }}'
      AND data['status'] = 207
      AND CAST(data['update_time'] AS DATE) = DATE '{{ dt }}'
)
SELECT
    r.consultation_id, r.user_id, r.patient_id, r.doctor_id, r.reviewed_time, r.rating,
    r.rating = 5 AS is_good,
    d.hospital_id, d.hospital_name, d.hospital_level, d.province, d.city,
    d.title_label, d.specialty_label,
    p.gender_label AS patient_gender, p.age_group
FROM r
LEFT JOIN dim_doctor d ON d.dt = '{{ dt }}' AND d.doctor_id = r.doctor_id
LEFT JOIN dim_patient p ON p.dt = '{{ dt }}' AND p.patient_id = r.patient_id
WHERE r.rn = 1
