/*
description = "App accounts as they were at the end of the day."
grain = "one row per user per day"
materialization = "snapshot"
expect_rows = true
phi = ["username", "telephone", "email"]

[columns]
user_id = "User id."
username = "Login name (PHI)."
telephone = "Mobile number (PHI)."
email = "E-mail (PHI)."
registered_date = "Day of registration."
*/
SELECT
    id AS user_id,
    username,
    telephone,
    email,
    CAST(create_time AS DATE) AS registered_date
FROM ods_user_full
WHERE dt = '{{ dt }}'
