/*
description = "Critical finding due: a report with a critical finding, counted on the day its 60-minute acknowledgement deadline falls (exam_report.reported_time + 60 minutes). By the end of that day whether the ordering doctor acknowledged it within 30 and within 60 minutes (critical_ack_time - reported_time) is settled, so a day's rows never change once the day is over. Read from the report's change records of partitions D-1 .. D+7 (an acknowledgement is carried by every record after it), the exam's attributes from its change records of D-2 .. D+7."
grain = "one row per critical finding"
materialization = "incremental"
owner = "data-platform"
tags = ["imaging", "fact"]

[columns]
exam_order_id = "Exam order id (= the report id)."
patient_id = "Patient."
doctor_id = "Ordering doctor, who acknowledges."
radiologist_id = "Reporting radiologist."
hospital_id = "Performing hospital."
hospital_name = "That hospital's name on the day."
modality = "DICOM modality: CT, MR, DX, CR, US, MG or NM."
body_part = "DICOM Body Part Examined, e.g. CHEST."
priority = "Priority code: 701 routine, 702 urgent, 703 stat."
priority_label = "Priority label from dict."
reported_time = "When the report was written (local)."
ack_deadline = "reported_time + 60 minutes: the event time."
critical_ack_time = "When the ordering doctor acknowledged it (local), if they have."
ack_minutes = "Whole minutes from report to acknowledgement."
ack_30_count = "1 if acknowledged within 30 minutes of the report, else 0."
ack_60_count = "1 if acknowledged within 60 minutes of the report, else 0."

[[checks]]
kind = "unique"
columns = ["exam_order_id"]
description = "The grain: one row per critical report."

[[checks]]
kind = "not_null"
columns = ["exam_order_id", "reported_time", "ack_deadline"]
*/
WITH r AS (
    SELECT
        data['exam_order_id'] AS exam_order_id,
        data['radiologist_id'] AS radiologist_id,
        data['reported_time'] AS reported_time,
        data['critical_ack_time'] AS critical_ack_time
    FROM ods_exam_report_inc
    WHERE dt BETWEEN '{{ dt - 1 }}' AND '{{ late_until }}'
      AND data['critical'] = true
      AND CAST(data['reported_time'] + INTERVAL '60 minutes' AS DATE) = DATE '{{ dt }}'
),
f AS (
    SELECT
        exam_order_id,
        min(radiologist_id) AS radiologist_id,
        min(reported_time) AS reported_time,
        min(critical_ack_time) AS critical_ack_time
    FROM r
    GROUP BY exam_order_id
),
o AS (
    SELECT
        data['id'] AS exam_order_id,
        data['patient_id'] AS patient_id,
        data['doctor_id'] AS doctor_id,
        data['hospital_id'] AS hospital_id,
        data['modality'] AS modality,
        data['body_part'] AS body_part,
        data['priority'] AS priority,
        row_number() OVER (PARTITION BY data['id'] ORDER BY ts, data['update_time']) AS rn
    FROM ods_exam_order_inc
    WHERE dt BETWEEN '{{ dt - 2 }}' AND '{{ late_until }}'
),
a AS (
    SELECT
        f.*,
        CAST(f.critical_ack_time AS BIGINT) - CAST(f.reported_time AS BIGINT) AS ack_us
    FROM f
)
SELECT
    a.exam_order_id, o.patient_id, o.doctor_id, a.radiologist_id,
    o.hospital_id, h.hospital_name,
    o.modality, o.body_part,
    o.priority, d.value AS priority_label,
    a.reported_time,
    a.reported_time + INTERVAL '60 minutes' AS ack_deadline,
    a.critical_ack_time,
    CAST(floor(CAST(a.ack_us AS DOUBLE) / 60000000.0) AS BIGINT) AS ack_minutes,
    CASE WHEN a.ack_us <= 1800000000 THEN 1 ELSE 0 END AS ack_30_count,
    CASE WHEN a.ack_us <= 3600000000 THEN 1 ELSE 0 END AS ack_60_count
FROM a
LEFT JOIN o ON o.exam_order_id = a.exam_order_id AND o.rn = 1
LEFT JOIN dim_hospital h ON h.dt = '{{ dt }}' AND h.hospital_id = o.hospital_id
LEFT JOIN ods_dict_full d ON d.dt = '{{ dt }}' AND d.id = o.priority
