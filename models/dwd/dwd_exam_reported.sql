/*
description = "Imaging exam reported: the radiologist's report was written. Event time exam_order.reported_time; read from the exam's change records of partitions D .. D+7, and the report's result (positive, critical) from the exam_report change records of D-1 .. D+7 (neither changes after the report). Minutes are whole minutes (seconds / 60, floored). Within target: whole minutes from exam to report at most the target of the priority: stat 60, urgent 240, routine (and any other code) 1440 minutes (codes::report_target_minutes)."
grain = "one row per exam reported"
materialization = "incremental"
owner = "data-platform"
tags = ["imaging", "fact"]

[columns]
exam_order_id = "Exam order id."
patient_id = "Patient."
doctor_id = "Ordering doctor."
radiologist_id = "Reporting radiologist (a doctor id)."
hospital_id = "Performing hospital."
hospital_name = "That hospital's name on the day."
modality = "DICOM modality: CT, MR, DX, CR, US, MG or NM."
body_part = "DICOM Body Part Examined, e.g. CHEST."
exam_item = "Exam item code, e.g. CT-CHEST."
priority = "Priority code: 701 routine, 702 urgent, 703 stat."
priority_label = "Priority label from dict."
ordered_time = "When the exam was ordered (local)."
performed_time = "When it was performed (local)."
reported_time = "Event time (local)."
exam_to_report_minutes = "Whole minutes from performance to report."
order_to_report_minutes = "Whole minutes from order to report."
target_minutes = "Report target of the priority, minutes."
within_target_count = "1 if exam_to_report_minutes <= target_minutes, else 0."
positive_count = "1 if the report is positive, else 0."
critical_count = "1 if the report holds a critical finding, else 0."

[[checks]]
kind = "unique"
columns = ["exam_order_id"]
description = "The grain: an exam is reported once."

[[checks]]
kind = "not_null"
columns = ["exam_order_id", "hospital_id", "modality", "body_part", "reported_time", "order_to_report_minutes"]

[[checks]]
kind = "range"
column = "exam_to_report_minutes"
min = 0
severity = "warn"
description = "No report is written before the exam was performed."
*/
WITH o AS (
    SELECT
        data['id'] AS exam_order_id,
        data['patient_id'] AS patient_id,
        data['doctor_id'] AS doctor_id,
        data['hospital_id'] AS hospital_id,
        data['modality'] AS modality,
        data['body_part'] AS body_part,
        data['exam_item'] AS exam_item,
        data['priority'] AS priority,
        data['ordered_time'] AS ordered_time,
        data['performed_time'] AS performed_time,
        data['reported_time'] AS reported_time,
        row_number() OVER (PARTITION BY data['id'] ORDER BY ts, data['update_time']) AS rn
    FROM ods_exam_order_inc
    WHERE dt BETWEEN '{{ dt }}' AND '{{ late_until }}'
      AND CAST(data['reported_time'] AS DATE) = DATE '{{ dt }}'
),
r AS (
    SELECT
        data['exam_order_id'] AS exam_order_id,
        data['radiologist_id'] AS radiologist_id,
        data['positive'] AS positive,
        data['critical'] AS critical,
        row_number() OVER (PARTITION BY data['exam_order_id'] ORDER BY ts, data['update_time']) AS rn
    FROM ods_exam_report_inc
    WHERE dt BETWEEN '{{ dt - 1 }}' AND '{{ late_until }}'
),
m AS (
    SELECT
        o.*,
        CAST(floor(CAST(CAST(o.reported_time AS BIGINT) - CAST(o.performed_time AS BIGINT) AS DOUBLE) / 60000000.0) AS BIGINT)
            AS exam_to_report_minutes,
        CAST(floor(CAST(CAST(o.reported_time AS BIGINT) - CAST(o.ordered_time AS BIGINT) AS DOUBLE) / 60000000.0) AS BIGINT)
            AS order_to_report_minutes,
        CASE o.priority WHEN 703 THEN 60 WHEN 702 THEN 240 ELSE 1440 END AS target_minutes
    FROM o
    WHERE o.rn = 1
)
SELECT
    m.exam_order_id, m.patient_id, m.doctor_id, r.radiologist_id,
    m.hospital_id, h.hospital_name,
    m.modality, m.body_part, m.exam_item,
    m.priority, d.value AS priority_label,
    m.ordered_time, m.performed_time, m.reported_time,
    m.exam_to_report_minutes, m.order_to_report_minutes, m.target_minutes,
    CASE WHEN m.exam_to_report_minutes <= m.target_minutes THEN 1 ELSE 0 END AS within_target_count,
    CASE WHEN r.positive THEN 1 ELSE 0 END AS positive_count,
    CASE WHEN r.critical THEN 1 ELSE 0 END AS critical_count
FROM m
LEFT JOIN r ON r.exam_order_id = m.exam_order_id AND r.rn = 1
LEFT JOIN dim_hospital h ON h.dt = '{{ dt }}' AND h.hospital_id = m.hospital_id
LEFT JOIN ods_dict_full d ON d.dt = '{{ dt }}' AND d.id = m.priority
