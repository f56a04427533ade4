/*
description = "Imaging scanners (the modality devices of the partner hospitals) as they were at the end of the day, with their hospital's name."
grain = "one row per scanner per day"
materialization = "snapshot"
owner = "data-platform"
tags = ["imaging", "dimension"]

[columns]
scanner_id = "Scanner id (hospital_id * 100 + k)."
hospital_id = "The hospital that owns it."
hospital_name = "That hospital's name on the day."
modality = "DICOM modality: CT, MR, DX, CR, US, MG or NM."
ae_title = "DICOM AE title, e.g. H0012CT01."
station_name = "DICOM Station Name, e.g. H12-CT-01."
manufacturer = "Manufacturer."
model_name = "Model name."
installed_date = "Day the scanner row was created."

[[checks]]
kind = "unique"
columns = ["scanner_id"]
description = "The grain: one row per scanner."

[[checks]]
kind = "unique"
columns = ["ae_title"]
severity = "warn"
description = "An AE title names one scanner."

[[checks]]
kind = "not_null"
columns = ["scanner_id", "hospital_id", "modality"]

[[checks]]
kind = "accepted_values"
column = "modality"
values = ["CT", "MR", "DX", "CR", "US", "MG", "NM"]
severity = "warn"
description = "Only the seven modalities of the domain."
*/
SELECT
    s.id AS scanner_id,
    s.hospital_id,
    h.hospital_name,
    s.modality,
    s.ae_title,
    s.station_name,
    s.manufacturer,
    s.model_name,
    CAST(s.create_time AS DATE) AS installed_date
FROM ods_scanner_full s
LEFT JOIN dim_hospital h ON h.dt = '{{ dt }}' AND h.hospital_id = s.hospital_id
WHERE s.dt = '{{ dt }}'
