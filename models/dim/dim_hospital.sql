/*
description = "Partner hospitals as they were at the end of the day."
grain = "one row per hospital per day"
materialization = "snapshot"
expect_rows = true

[columns]
hospital_id = "Hospital id."
hospital_name = "Registered name."
hospital_level = "Grade, e.g. 三级甲等."
province = "Province."
city = "City."
district = "District."
bed_num = "Beds."
insurance = "Accepts public medical insurance."
*/
SELECT
    id AS hospital_id,
    name AS hospital_name,
    alias AS hospital_alias,
    level AS hospital_level,
    province,
    city,
    district,
    bed_num,
    department_num,
    insurance,
    CAST(establish_time AS DATE) AS establish_date
FROM ods_hospital_full
WHERE dt = '{{ dt }}'
