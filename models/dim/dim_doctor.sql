/*
description = "Doctors with their title, specialty and hospital as they were at the end of the day; the labels come from dict."
grain = "one row per doctor per day"
materialization = "snapshot"
expect_rows = true
phi = ["doctor_name", "birthday"]

[columns]
doctor_id = "Doctor id."
doctor_name = "Name (PHI)."
birthday = "Birthday (PHI)."
gender_label = "男 / 女."
title = "Title code 301-305."
title_label = "Title, e.g. 主任医师."
specialty = "Specialty code 5xx."
specialty_label = "Department, e.g. 儿科."
consultation_fee = "Current fee of one consultation, CNY."
hospital_id = "The doctor's hospital."
registered_date = "Day of registration."

[[checks]]
kind = "unique"
columns = ["doctor_id"]

[[checks]]
kind = "relationships"
column = "hospital_id"
to = "dim_hospital.hospital_id"
description = "Every doctor works at a hospital of the day's hospital dimension."
*/
SELECT
    d.id AS doctor_id,
    d.name AS doctor_name,
    d.birthday,
    d.gender,
    g.value AS gender_label,
    d.title,
    t.value AS title_label,
    d.specialty,
    s.value AS specialty_label,
    d.consultation_fee,
    d.hospital_id,
    h.hospital_name,
    h.hospital_level,
    h.province,
    h.city,
    CAST(d.create_time AS DATE) AS registered_date
FROM ods_doctor_full d
LEFT JOIN dim_hospital h ON h.dt = '{{ dt }}' AND h.hospital_id = d.hospital_id
LEFT JOIN ods_dict_full g ON g.dt = '{{ dt }}' AND g.id = d.gender
LEFT JOIN ods_dict_full t ON t.dt = '{{ dt }}' AND t.id = d.title
LEFT JOIN ods_dict_full s ON s.dt = '{{ dt }}' AND s.id = d.specialty
WHERE d.dt = '{{ dt }}'
