/*
description = "Daily summary of the consultation funnel per doctor and patient group: placed, paid, finished, prescribed, prescription paid, reviewed. Every figure is of events of the day."
grain = "one row per day, doctor, patient gender and age group"
materialization = "incremental"
owner = "data-platform"
tags = ["trade", "daily"]

[columns]
placed_count = "Consultations placed."
placed_amount = "Fees of consultations placed, CNY."
paid_count = "Consultations paid."
paid_amount = "Consultation fees paid, CNY."
finished_count = "Consultations finished."
rx_issued_count = "Prescriptions issued."
rx_issued_amount = "Amount of prescriptions issued, CNY."
rx_paid_count = "Prescriptions paid."
rx_paid_amount = "Amount of prescriptions paid, CNY."
review_count = "Reviews written."
good_review_count = "Reviews with rating 5."
rating_sum = "Sum of ratings."

[[checks]]
kind = "reconcile"
left = "SELECT sum(paid_amount) FROM dws_consultation_1d"
right = "SELECT sum(amount) FROM dwd_consultation_paid WHERE dt = '{{ dt }}'"
description = "The day's summary holds every fee paid that day."

[[checks]]
kind = "range"
column = "rating_sum"
min = 0
*/
WITH events AS (
    SELECT doctor_id, hospital_id, hospital_name, hospital_level, province, city, title_label, specialty_label, patient_gender, age_group,
           1 AS placed_count, fee AS placed_amount, 0 AS paid_count, CAST(0 AS DECIMAL(19, 2)) AS paid_amount, 0 AS finished_count,
           0 AS rx_issued_count, CAST(0 AS DECIMAL(19, 2)) AS rx_issued_amount, 0 AS rx_paid_count, CAST(0 AS DECIMAL(19, 2)) AS rx_paid_amount,
           0 AS review_count, 0 AS good_review_count, 0 AS rating_sum
    FROM dwd_consultation_placed WHERE dt = '{{ dt }}'
    UNION ALL
    SELECT doctor_id, hospital_id, hospital_name, hospital_level, province, city, title_label, specialty_label, patient_gender, age_group,
           0, CAST(0 AS DECIMAL(19, 2)), 1, amount, 0, 0, CAST(0 AS DECIMAL(19, 2)), 0, CAST(0 AS DECIMAL(19, 2)), 0, 0, 0
    FROM dwd_consultation_paid WHERE dt = '{{ dt }}'
    UNION ALL
    SELECT doctor_id, hospital_id, hospital_name, hospital_level, province, city, title_label, specialty_label, patient_gender, age_group,
           0, CAST(0 AS DECIMAL(19, 2)), 0, CAST(0 AS DECIMAL(19, 2)), 1, 0, CAST(0 AS DECIMAL(19, 2)), 0, CAST(0 AS DECIMAL(19, 2)), 0, 0, 0
    FROM dwd_consultation_finished WHERE dt = '{{ dt }}'
    UNION ALL
    SELECT doctor_id, hospital_id, hospital_name, hospital_level, province, city, title_label, specialty_label, patient_gender, age_group,
           0, CAST(0 AS DECIMAL(19, 2)), 0, CAST(0 AS DECIMAL(19, 2)), 0, 1, total_amount, 0, CAST(0 AS DECIMAL(19, 2)), 0, 0, 0
    FROM dwd_prescription_issued WHERE dt = '{{ dt }}'
    UNION ALL
    SELECT doctor_id, hospital_id, hospital_name, hospital_level, province, city, title_label, specialty_label, patient_gender, age_group,
           0, CAST(0 AS DECIMAL(19, 2)), 0, CAST(0 AS DECIMAL(19, 2)), 0, 0, CAST(0 AS DECIMAL(19, 2)), 1, amount, 0, 0, 0
    FROM dwd_prescription_paid WHERE dt = '{{ dt }}'
    UNION ALL
    SELECT doctor_id, hospital_id, hospital_name, hospital_level, province, city, title_label, specialty_label, patient_gender, age_group,
           0, CAST(0 AS DECIMAL(19, 2)), 0, CAST(0 AS DECIMAL(19, 2)), 0, 0, CAST(0 AS DECIMAL(19, 2)), 0, CAST(0 AS DECIMAL(19, 2)),
           1, CASE WHEN is_good THEN 1 ELSE 0 END, rating
    FROM dwd_review WHERE dt = '{{ dt }}'
)
SELECT
    doctor_id, hospital_id, hospital_name, hospital_level, province, city, title_label, specialty_label, patient_gender, age_group,
    CAST(sum(placed_count) AS BIGINT) AS placed_count,
    CAST(sum(placed_amount) AS DECIMAL(19, 2)) AS placed_amount,
    CAST(sum(paid_count) AS BIGINT) AS paid_count,
    CAST(sum(paid_amount) AS DECIMAL(19, 2)) AS paid_amount,
    CAST(sum(finished_count) AS BIGINT) AS finished_count,
    CAST(sum(rx_issued_count) AS BIGINT) AS rx_issued_count,
    CAST(sum(rx_issued_amount) AS DECIMAL(19, 2)) AS rx_issued_amount,
    CAST(sum(rx_paid_count) AS BIGINT) AS rx_paid_count,
    CAST(sum(rx_paid_amount) AS DECIMAL(19, 2)) AS rx_paid_amount,
    CAST(sum(review_count) AS BIGINT) AS review_count,
    CAST(sum(good_review_count) AS BIGINT) AS good_review_count,
    CAST(sum(rating_sum) AS BIGINT) AS rating_sum
FROM events
GROUP BY doctor_id, hospital_id, hospital_name, hospital_level, province, city, title_label, specialty_label, patient_gender, age_group
