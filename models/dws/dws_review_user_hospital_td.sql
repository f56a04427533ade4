/*
description = "Reviews to date per user and hospital: the day of the user's first review of a doctor of that hospital, the last, and how many. Partition dt holds the history up to that day."
grain = "one row per user and hospital ever reviewed"
materialization = "accumulate"
unique_key = ["user_id", "hospital_id"]

[merge]
first_review_date = "min"
last_review_date = "max"
review_count = "sum"

[columns]
user_id = "Reviewing user."
hospital_id = "Hospital of the reviewed doctor."
first_review_date = "Day of the first review."
last_review_date = "Day of the latest review."
review_count = "Reviews to date."
*/
SELECT
    user_id, hospital_id,
    DATE '{{ dt }}' AS first_review_date,
    DATE '{{ dt }}' AS last_review_date,
    CAST(count(*) AS BIGINT) AS review_count
FROM dwd_review
WHERE dt = '{{ dt }}'
GROUP BY user_id, hospital_id
