/*
description = "First reviews: the users who reviewed a doctor of a hospital on the day for the first time ever, judged against all history the lake holds (reviewers to date, seeded from the first capture's bootstrap records). A window's first-time reviewers are the union of its days."
grain = "one row per day, user and hospital first reviewed that day"
materialization = "incremental"

[columns]
user_id = "Reviewing user."
hospital_id = "Hospital of the reviewed doctor."
hospital_name = "Hospital name."
review_count = "Reviews the user wrote of the hospital's doctors that day."
*/
SELECT
    r.user_id, r.hospital_id, max(r.hospital_name) AS hospital_name,
    CAST(count(*) AS BIGINT) AS review_count
FROM dwd_review r
JOIN dws_reviewer_td t
  ON t.dt = '{{ dt }}' AND t.user_id = r.user_id AND t.hospital_id = r.hospital_id
WHERE r.dt = '{{ dt }}'
  AND r.hospital_id IS NOT NULL
  AND t.first_review_date = DATE '{{ dt }}'
GROUP BY r.user_id, r.hospital_id
