/*
description = "Imaging exam ordered: a doctor ordered an exam (exam_order row created) in a consultation. Event time exam_order.ordered_time (= create_time). Read from the exam's change records of partitions D .. D+7, so an exam first captured in a later state (it was paid or scheduled before the capture) still counts on its order day; the columns read never change after the order. Hospital name and priority label as they were on the event day."
grain = "one row per exam ordered"
materialization = "incremental"
owner = "data-platform"
tags = ["imaging", "fact"]

[columns]
exam_order_id = "Exam order id."
consultation_id = "Consultation the exam was ordered in."
patient_id = "Patient."
doctor_id = "Ordering doctor."
hospital_id = "Performing hospital."
hospital_name = "That hospital's name on the day."
modality = "DICOM modality: CT, MR, DX, CR, US, MG or NM."
body_part = "DICOM Body Part Examined, e.g. CHEST."
exam_item = "Exam item code <MODALITY>-<BODYPART>[-C], e.g. CT-CHEST."
priority = "Priority code: 701 routine, 702 urgent, 703 stat."
priority_label = "Priority label from dict, e.g. 常规."
fee = "Exam fee, CNY."
ordered_time = "Event time (local)."

[[checks]]
kind = "unique"
columns = ["exam_order_id"]
description = "The grain: an exam is ordered once."

[[checks]]
kind = "not_null"
columns = ["exam_order_id", "hospital_id", "modality", "body_part", "ordered_time"]

[[checks]]
kind = "accepted_values"
column = "priority"
dict = "exam_priority"
severity = "warn"
description = "Priority is routine, urgent or stat."

[[checks]]
kind = "range"
column = "fee"
min = 0
severity = "warn"
*/
WITH o AS (
    SELECT
        data['id'] AS exam_order_id,
        data['consultation_id'] AS consultation_id,
        data['patient_id'] AS patient_id,
        data['doctor_id'] AS doctor_id,
        data['hospital_id'] AS hospital_id,
        data['modality'] AS modality,
        data['body_part'] AS body_part,
        data['exam_item'] AS exam_item,
        data['priority'] AS priority,
        data['fee'] AS fee,
        data['ordered_time'] AS ordered_time,
        row_number() OVER (PARTITION BY data['id'] ORDER BY ts, data['update_time']) AS rn
    FROM ods_exam_order_inc
    WHERE dt BETWEEN '{{ dt }}' AND '{{ late_until }}'
      AND CAST(data['ordered_time'] AS DATE) = DATE '{{ dt }}'
)
SELECT
    o.exam_order_id, o.consultation_id, o.patient_id, o.doctor_id,
    o.hospital_id, h.hospital_name,
    o.modality, o.body_part, o.exam_item,
    o.priority, p.value AS priority_label,
    o.fee, o.ordered_time
FROM o
LEFT JOIN dim_hospital h ON h.dt = '{{ dt }}' AND h.hospital_id = o.hospital_id
LEFT JOIN ods_dict_full p ON p.dt = '{{ dt }}' AND p.id = o.priority
WHERE o.rn = 1
