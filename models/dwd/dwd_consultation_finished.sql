/*
description = "Consultation finished: the consultation reached diagnosis finished (status 205 or later) for the first time. Event time is the first captured change at or past 205 (exact with binlog capture; with daily query capture, a consultation that also got its prescription or review that day carries that later time). A consultation the first capture (bootstrap) finds already finished and not changed that day finished before the warehouse began and is not an event of that day. Paid time comes from the paid fact of the last 7 days, so it is unknown for a fee paid before the warehouse's first day."
grain = "one row per finished consultation"
materialization = "incremental"

[columns]
consultation_id = "Consultation id."
finished_time = "Event time (local)."
paid_time = "When its fee was paid."
paid_to_finished_minutes = "Minutes from payment to finished diagnosis."
*/
WITH today AS (
    SELECT
        data['id'] AS consultation_id,
        data['user_id'] AS user_id,
        data['patient_id'] AS patient_id,
        data['doctor_id'] AS doctor_id,
        min(data['update_time']) AS finished_time
    FROM ods_consultation_inc
    WHERE dt = '{{ dt }}' AND data['status'] >= 205
      AND CAST(data['update_time'] AS DATE) = DATE '{{ dt }}'
    GROUP BY data['id'], data['user_id'], data['patient_id'], data['doctor_id']
),
earlier AS (
    SELECT DISTINCT data['id'] AS consultation_id
    FROM ods_consultation_inc
    WHERE dt >= '{{ dt - 7 }}' AND dt < '{{ dt }}' AND data['status'] >= 205
),
paid AS (
    SELECT consultation_id, min(paid_time) AS paid_time
    FROM dwd_consultation_paid
    WHERE dt >= '{{ dt - 7 }}' AND dt <= '{{ dt }}'
    GROUP BY consultation_id
)
SELECT
    t.consultation_id, t.user_id, t.patient_id, t.doctor_id, t.finished_time,
    paid.paid_time,
    CAST(CAST(t.finished_time AS BIGINT) - CAST(paid.paid_time AS BIGINT) AS DOUBLE) / 60000000.0
        AS paid_to_finished_minutes,
    d.hospital_id, d.hospital_name, d.hospital_level, d.province, d.city,
    d.title_label, d.specialty_label,
    p.gender_label AS patient_gender, p.age_group
FROM today t
LEFT JOIN earlier e ON e.consultation_id = t.consultation_id
LEFT JOIN paid ON paid.consultation_id = t.consultation_id
LEFT JOIN dim_doctor d ON d.dt = '{{ dt }}' AND d.doctor_id = t.doctor_id
LEFT JOIN dim_patient p ON p.dt = '{{ dt }}' AND p.patient_id = t.patient_id
WHERE e.consultation_id IS NULL
