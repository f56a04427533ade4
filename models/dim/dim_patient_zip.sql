/*
description = "Patient history (zipper, SCD type 2): every version of a patient with the days it was valid; the current version ends 9999-12-31. Partition dt holds the history as known at the end of that day."
grain = "one row per patient version"
materialization = "scd2"
unique_key = ["patient_id"]
phi = ["patient_name", "birthday", "id_card_no"]

[columns]
patient_id = "Patient id."
user_id = "The user who added the patient."
patient_name = "Name (PHI)."
birthday = "Birthday (PHI)."
id_card_no = "Resident ID number (PHI); corrections make new versions."
gender = "Gender code."
update_time = "Business time of this version."
start_date = "First day this version was valid."
end_date = "Last day this version was valid; 9999-12-31 while current."
*/
SELECT patient_id, user_id, patient_name, birthday, id_card_no, gender, update_time
FROM (
    SELECT
        data['id'] AS patient_id,
        data['user_id'] AS user_id,
        data['name'] AS patient_name,
        data['birthday'] AS birthday,
        data['id_card_no'] AS id_card_no,
        data['gender'] AS gender,
        data['update_time'] AS update_time,
        row_number() OVER (PARTITION BY data['id'] ORDER BY data['update_time'] DESC, ts DESC) AS rn
    FROM ods_patient_inc
    WHERE dt = '{{ dt }}'
) latest
WHERE rn = 1
