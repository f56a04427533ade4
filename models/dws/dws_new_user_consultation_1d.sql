/*
description = "New users who placed a consultation on the day: users registered in the 30 days up to and including it (the longest metric window), with their registration day. The new-user conversion of any window up to 30 days reads these daily rows instead of 30 days of consultations."
grain = "one row per day and consulting user registered in the last 30 days"
materialization = "incremental"

[columns]
user_id = "User who placed a consultation on the day."
registered_date = "Day the user registered (within the 30 days up to the day)."
consultation_count = "Consultations the user placed that day."
*/
SELECT
    c.user_id,
    CAST(min(u.registered_time) AS DATE) AS registered_date,
    CAST(count(*) AS BIGINT) AS consultation_count
FROM dwd_consultation_placed c
JOIN dwd_user_registered u
  ON u.user_id = c.user_id AND u.dt >= '{{ dt - 29 }}' AND u.dt <= '{{ dt }}'
WHERE c.dt = '{{ dt }}'
GROUP BY c.user_id
