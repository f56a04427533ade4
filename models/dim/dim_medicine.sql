/*
description = "The drug catalogue as it was at the end of the day."
grain = "one row per medicine per day"
materialization = "snapshot"
expect_rows = true

[columns]
medicine_id = "Medicine id."
medicine_name = "Generic name."
dose_type = "Dosage form, e.g. 片剂."
price = "Unit price, CNY."
*/
SELECT
    id AS medicine_id,
    name AS medicine_name,
    name_en AS medicine_name_en,
    trade_name,
    dose_type,
    specs,
    approval_code,
    price
FROM ods_medicine_full
WHERE dt = '{{ dt }}'
