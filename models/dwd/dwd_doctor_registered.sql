/*
description = "Doctor registered: a doctor row was created (create_time on the day)."
grain = "one row per new doctor"
materialization = "incremental"

[columns]
doctor_id = "Doctor id."
registered_time = "Event time (local)."
*/
SELECT
    d.doctor_id, f.create_time AS registered_time,
    d.hospital_id, d.hospital_name, d.hospital_level, d.province, d.city,
    d.title_label, d.specialty_label
FROM ods_doctor_full f
JOIN dim_doctor d ON d.dt = '{{ dt }}' AND d.doctor_id = f.id
WHERE f.dt = '{{ dt }}' AND CAST(f.create_time AS DATE) = DATE '{{ dt }}'
