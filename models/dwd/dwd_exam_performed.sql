/*
description = "Imaging exam performed: the exam on the scanner ended and the exam reached performed (604). performed_time is when it started on the scanner; the business writes the performed state when it ends, exam_minutes later, so the event time is exam_end_time = performed_time + exam_minutes: an exam that starts before midnight and ends after it is a fact of the next day, the day it became known, and a day's facts are complete at its end. Read from the exam's change records of partitions D .. D+7 (every record from the performance on carries the start, the scanner and the minutes on it, which never change again), so binlog capture and daily capture by query give the same rows. A repeat is an exam whose patient had an exam of the same modality and body part started in the 7 days (168 hours) before this one's performed_time (strictly earlier), found in the change records of partitions D-8 .. D+7: the bootstrap partition holds exams performed before the first capture, so repeats of those count too. Minutes are whole minutes: the difference in seconds divided by 60, floored."
grain = "one row per exam performed"
materialization = "incremental"
owner = "data-platform"
tags = ["imaging", "fact"]

[columns]
exam_order_id = "Exam order id."
patient_id = "Patient."
doctor_id = "Ordering doctor."
hospital_id = "Performing hospital."
hospital_name = "That hospital's name on the day."
scanner_id = "Scanner the exam was performed on."
modality = "DICOM modality: CT, MR, DX, CR, US, MG or NM."
body_part = "DICOM Body Part Examined, e.g. CHEST."
exam_item = "Exam item code, e.g. CT-CHEST."
priority = "Priority code: 701 routine, 702 urgent, 703 stat."
priority_label = "Priority label from dict."
ordered_time = "When the exam was ordered (local)."
performed_time = "When the exam started on the scanner (local)."
exam_minutes = "Minutes on the scanner."
exam_end_time = "Event time (local): performed_time + exam_minutes, when the exam reached performed."
order_to_exam_minutes = "Whole minutes from order to performance."
repeat_count = "1 if a repeat (same patient, modality and body part performed in the 168 hours before), else 0."

[[checks]]
kind = "unique"
columns = ["exam_order_id"]
description = "The grain: an exam is performed once."

[[checks]]
kind = "not_null"
columns = ["exam_order_id", "hospital_id", "modality", "body_part", "performed_time", "order_to_exam_minutes"]

[[checks]]
kind = "range"
column = "order_to_exam_minutes"
min = 0
severity = "warn"
description = "No exam is performed before it was ordered."

[[checks]]
kind = "range"
column = "exam_minutes"
min = 0
max = 1440
severity = "warn"
*/
WITH performed_records AS (
    SELECT
        data['id'] AS exam_order_id,
        data['patient_id'] AS patient_id,
        data['doctor_id'] AS doctor_id,
        data['hospital_id'] AS hospital_id,
        data['scanner_id'] AS scanner_id,
        data['modality'] AS modality,
        data['body_part'] AS body_part,
        data['exam_item'] AS exam_item,
        data['priority'] AS priority,
        data['ordered_time'] AS ordered_time,
        data['performed_time'] AS performed_time,
        data['exam_minutes'] AS exam_minutes,
        to_timestamp_micros(
            CAST(data['performed_time'] AS BIGINT) + CAST(coalesce(data['exam_minutes'], 0) AS BIGINT) * 60000000
        ) AS exam_end_time,
        ts,
        data['update_time'] AS update_time
    FROM ods_exam_order_inc
    WHERE dt BETWEEN '{{ dt }}' AND '{{ late_until }}'
      AND data['performed_time'] IS NOT NULL
),
p AS (
    SELECT
        performed_records.*,
        row_number() OVER (PARTITION BY exam_order_id ORDER BY ts, update_time) AS rn
    FROM performed_records
    WHERE CAST(exam_end_time AS DATE) = DATE '{{ dt }}'
),
today AS (
    SELECT * FROM p WHERE rn = 1
),
earlier AS (
    SELECT DISTINCT
        data['id'] AS exam_order_id,
        data['patient_id'] AS patient_id,
        data['modality'] AS modality,
        data['body_part'] AS body_part,
        CAST(data['performed_time'] AS BIGINT) AS performed_us
    FROM ods_exam_order_inc
    WHERE dt BETWEEN '{{ dt - 8 }}' AND '{{ late_until }}'
      AND CAST(data['performed_time'] AS DATE) BETWEEN DATE '{{ dt - 8 }}' AND DATE '{{ dt }}'
),
repeats AS (
    SELECT DISTINCT t.exam_order_id
    FROM today t
    JOIN earlier e
      ON e.patient_id = t.patient_id
     AND e.modality = t.modality
     AND e.body_part = t.body_part
    WHERE e.exam_order_id <> t.exam_order_id
      AND e.performed_us < CAST(t.performed_time AS BIGINT)
      AND e.performed_us >= CAST(t.performed_time AS BIGINT) - 604800000000
)
SELECT
    t.exam_order_id, t.patient_id, t.doctor_id,
    t.hospital_id, h.hospital_name, t.scanner_id,
    t.modality, t.body_part, t.exam_item,
    t.priority, d.value AS priority_label,
    t.ordered_time, t.performed_time, t.exam_minutes, t.exam_end_time,
    CAST(floor(CAST(CAST(t.performed_time AS BIGINT) - CAST(t.ordered_time AS BIGINT) AS DOUBLE) / 60000000.0) AS BIGINT)
        AS order_to_exam_minutes,
    CASE WHEN r.exam_order_id IS NULL THEN 0 ELSE 1 END AS repeat_count
FROM today t
LEFT JOIN repeats r ON r.exam_order_id = t.exam_order_id
LEFT JOIN dim_hospital h ON h.dt = '{{ dt }}' AND h.hospital_id = t.hospital_id
LEFT JOIN ods_dict_full d ON d.dt = '{{ dt }}' AND d.id = t.priority
