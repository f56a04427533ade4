/*
description = "User registered: an app account was created (create_time on the day)."
grain = "one row per new user"
materialization = "incremental"

[columns]
user_id = "User id."
registered_time = "Event time (local)."
*/
SELECT id AS user_id, create_time AS registered_time
FROM ods_user_full
WHERE dt = '{{ dt }}' AND CAST(create_time AS DATE) = DATE '{{ dt }}'
