/*
description = "Patients with their age and age group on the day (docs/domain.md, 'Age groups'). Names, birthdays and ID numbers are not copied into every day's snapshot: they live once, in the dim_patient_zip history."
grain = "one row per patient per day"
materialization = "snapshot"
owner = "data-platform"
tags = ["patient", "dimension"]
expect_rows = true
phi = []
# Age in whole years and its group come from the birthday but name no one.
deidentified = ["age", "age_group"]

[columns]
patient_id = "Patient id."
user_id = "The user who added the patient."
gender_label = "男 / 女."
age = "Whole years between birthday and the day."
age_group = "0-2 婴儿, 3-5 幼儿, 6-11 儿童, 12-17 少年, 18-29 青年, 30-59 中年, 60+ 老年."
added_date = "Day the patient was added."
*/
WITH p AS (
    SELECT
        id,
        user_id,
        gender,
        create_time,
        CAST(
            date_part('year', DATE '{{ dt }}') - date_part('year', birthday)
            - CASE
                WHEN date_part('month', birthday) * 100 + date_part('day', birthday)
                     > date_part('month', DATE '{{ dt }}') * 100 + date_part('day', DATE '{{ dt }}')
                THEN 1 ELSE 0
              END
        AS INT) AS age
    FROM ods_patient_full
    WHERE dt = '{{ dt }}'
)
SELECT
    p.id AS patient_id,
    p.user_id,
    p.gender,
    g.value AS gender_label,
    p.age,
    CASE
        WHEN p.age <= 2 THEN '0-2 婴儿'
        WHEN p.age <= 5 THEN '3-5 幼儿'
        WHEN p.age <= 11 THEN '6-11 儿童'
        WHEN p.age <= 17 THEN '12-17 少年'
        WHEN p.age <= 29 THEN '18-29 青年'
        WHEN p.age <= 59 THEN '30-59 中年'
        ELSE '60+ 老年'
    END AS age_group,
    CAST(p.create_time AS DATE) AS added_date
FROM p
LEFT JOIN ods_dict_full g ON g.dt = '{{ dt }}' AND g.id = p.gender
