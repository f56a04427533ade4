/*
description = "Scanner utilisation per day: every scanner of the day's scanner dimension with the minutes of the exams performed on it that day (the exam's whole scanner time counts on its performed day) against the 24 * 60 minutes of the day. Idle scanners have a row with 0 exam minutes, so a hospital's or modality's utilisation is over all its scanners."
grain = "one row per scanner per day"
materialization = "incremental"
owner = "data-platform"
tags = ["imaging", "daily"]
constant = ["available_minutes"]

[columns]
scanner_id = "Scanner id."
hospital_id = "The hospital that owns it."
hospital_name = "That hospital's name on the day."
modality = "The scanner's modality."
ae_title = "DICOM AE title."
available_minutes = "Minutes of the day: 1440."
exam_minutes = "Minutes on the scanner of the exams performed on it that day."
exam_count = "Exams performed on it that day."

[[checks]]
kind = "unique"
columns = ["scanner_id"]
description = "The grain: one row per scanner."

[[checks]]
kind = "range"
column = "exam_minutes"
min = 0
severity = "warn"

[[checks]]
kind = "reconcile"
left = "SELECT sum(exam_count) FROM dws_scanner_day"
right = "SELECT count(*) FROM dwd_exam_performed WHERE dt = '{{ dt }}' AND scanner_id IN (SELECT scanner_id FROM dim_scanner WHERE dt = '{{ dt }}')"
severity = "warn"
description = "Every exam performed on a known scanner that day is counted once."
*/
WITH used AS (
    SELECT
        scanner_id,
        CAST(sum(exam_minutes) AS BIGINT) AS exam_minutes,
        CAST(count(*) AS BIGINT) AS exam_count
    FROM dwd_exam_performed
    WHERE dt = '{{ dt }}' AND scanner_id IS NOT NULL
    GROUP BY scanner_id
)
SELECT
    s.scanner_id, s.hospital_id, s.hospital_name, s.modality, s.ae_title,
    CAST(1440 AS BIGINT) AS available_minutes,
    coalesce(u.exam_minutes, CAST(0 AS BIGINT)) AS exam_minutes,
    coalesce(u.exam_count, CAST(0 AS BIGINT)) AS exam_count
FROM dim_scanner s
LEFT JOIN used u ON u.scanner_id = s.scanner_id
WHERE s.dt = '{{ dt }}'
