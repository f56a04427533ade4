/*
description = "Reviewers to date: every (user, hospital) pair with the day of the user's first review of a doctor of that hospital, over all history the lake holds. Partition D is partition D-1 merged with the reviews of the partitions not yet merged (on every build but the first, day D's alone). The first build reads every earlier partition, so the reviews written before capture began count too: a table's first capture holds every consultation as it stood (bootstrap records), and a reviewed consultation's last change (status 207) carries the time of its review."
grain = "one row per user and hospital ever reviewed, as of the day"
materialization = "accumulate"
unique_key = ["user_id", "hospital_id"]

[merge]
first_review_date = "min"

[columns]
user_id = "Reviewing user."
hospital_id = "Hospital of the reviewed doctor (as of the day)."
first_review_date = "Day of the user's first review of a doctor of the hospital."
*/
SELECT
    c.data['user_id'] AS user_id,
    d.hospital_id,
    min(CAST(c.data['update_time'] AS DATE)) AS first_review_date
FROM ods_consultation_inc c
JOIN dim_doctor d ON d.dt = '{{ dt }}' AND d.doctor_id = c.data['doctor_id']
WHERE c.dt >= '{{ since }}' AND c.dt <= '{{ dt }}'
  AND c.data['status'] = 207
  AND CAST(c.data['update_time'] AS DATE) <= DATE '{{ dt }}'
GROUP BY c.data['user_id'], d.hospital_id
