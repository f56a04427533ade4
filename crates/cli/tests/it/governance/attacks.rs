//! The adversarial statements: each tries to get around a mask or a row filter.

/// What a statement must do besides not leaking.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(super) enum Expect {
    /// Rows come back.
    Rows,
    /// Refused (403 / SQLSTATE 42501 or an error).
    Fails,
    /// Either; only the absence of leaks is checked.
    Either,
}

use Expect::{Either, Fails, Rows};

/// Attacks on the masks, as an analyst (PHI masked by the built-in policies). `{id}` is a
/// real ID number and `{name}` a real patient name, both from the lake.
pub(super) const MASK_ATTACKS: &[(Expect, &str)] = &[
    (Rows, "SELECT * FROM ods_patient_full"),
    (Rows, "SELECT name, id_card_no, birthday FROM ods_patient_full"),
    (Rows, "SELECT id_card_no AS x, name AS y FROM ods_patient_full"),
    (Rows, "SELECT CAST(id_card_no AS VARCHAR), CAST(birthday AS VARCHAR) FROM ods_patient_full"),
    (Rows, "SELECT upper(name), lower(id_card_no), reverse(name) FROM ods_patient_full"),
    (Rows, "SELECT * FROM (SELECT * FROM ods_patient_full) t"),
    (Rows, "WITH p AS (SELECT * FROM ods_patient_full) SELECT p.* FROM p"),
    (Rows, "WITH RECURSIVE r AS (SELECT name FROM ods_patient_full) SELECT * FROM r"),
    (Rows, "SELECT id_card_no FROM ods_patient_full UNION SELECT telephone FROM ods_user_full"),
    (Rows, "SELECT name FROM ods_patient_full UNION ALL SELECT username FROM ods_user_full"),
    (Either, "SELECT name FROM ods_patient_full INTERSECT SELECT name FROM ods_patient_full"),
    (Rows, "SELECT name FROM ods_patient_full EXCEPT SELECT 'nobody'"),
    (Rows, "SELECT first_value(id_card_no) OVER (ORDER BY id), lag(name) OVER (ORDER BY id) FROM ods_patient_full"),
    (Rows, "SELECT count(DISTINCT id_card_no), count(DISTINCT name) FROM ods_patient_full"),
    (Rows, "SELECT min(id_card_no), max(name), min(birthday), max(telephone) FROM ods_patient_full, ods_user_full"),
    (Rows, "SELECT string_agg(name, ',') FROM ods_patient_full"),
    (Rows, "SELECT array_agg(telephone), array_agg(email) FROM ods_user_full"),
    (Either, "SELECT * FROM ods_patient_full WHERE id_card_no LIKE '11%'"),
    (Rows, "SELECT count(*) FROM ods_patient_full WHERE id_card_no = '{id}'"),
    (Either, "SELECT 1 AS found WHERE EXISTS (SELECT 1 FROM ods_patient_full WHERE id_card_no = '{id}')"),
    (Either, "SELECT id FROM ods_patient_full WHERE name = '{name}'"),
    (Either, "SELECT id FROM ods_patient_full WHERE substr(id_card_no, 1, 6) = substr('{id}', 1, 6)"),
    (Rows, "SELECT data FROM ods_patient_inc"),
    (Rows, "SELECT data['name'], data['id_card_no'], data['birthday'] FROM ods_patient_inc"),
    (Rows, "SELECT old, data_extra FROM ods_patient_inc"),
    (Rows, "SELECT * FROM ods_user_inc"),
    (Rows, "SELECT * FROM ods_doctor_full"),
    (Rows, "SELECT * FROM dim_patient_zip"),
    (Rows, "SELECT * FROM dim_user"),
    (Rows, "SELECT * FROM dim_doctor"),
    (Rows, "SELECT patient_name FROM dim_patient_zip ORDER BY patient_name"),
    (Rows, "SELECT p.name, u.telephone FROM ods_patient_full p JOIN ods_user_full u ON p.user_id = u.id"),
    (Rows, "SELECT (SELECT max(name) FROM ods_patient_full) AS x"),
    (Rows, "SELECT name FROM ods_patient_full WHERE name IN (SELECT name FROM ods_patient_full)"),
    (Either, "SELECT CAST(name AS INT) FROM ods_patient_full"),
    (Either, "SELECT CAST(id_card_no AS BIGINT) FROM ods_patient_full"),
    (Either, "SELECT to_date(name) FROM ods_patient_full"),
    (Rows, "EXPLAIN SELECT * FROM ods_patient_full WHERE id_card_no = 'x'"),
    (Fails, "EXPLAIN VERBOSE SELECT * FROM ods_patient_full"),
    (Fails, "EXPLAIN ANALYZE SELECT * FROM ods_patient_full"),
    (Rows, "SELECT table_name, column_name, data_type FROM information_schema.columns WHERE table_name = 'ods_patient_full'"),
    (Rows, "SELECT \"name\" FROM \"ods_patient_full\""),
    (Rows, "SELECT medlake.public.ods_patient_full.name FROM medlake.public.ods_patient_full"),
    (Rows, "SELECT regexp_replace(name, 'x', 'y'), md5(id_card_no), length(name) FROM ods_patient_full"),
    (Rows, "SELECT t1.id_card_no, t2.name FROM ods_patient_full t1, ods_patient_full t2 WHERE t1.id = t2.id"),
    (Rows, "SELECT date_part('month', birthday), date_part('day', birthday) FROM ods_patient_full"),
    (Rows, "SELECT name || '' FROM ods_patient_full ORDER BY 1 LIMIT 5 OFFSET 1"),
    (Rows, "SELECT CASE WHEN id_card_no LIKE '1%' THEN name ELSE id_card_no END FROM ods_patient_full"),
];

/// Attacks on the row filter, as an analyst scoped to two hospitals.
pub(super) const FILTER_ATTACKS: &[(Expect, &str)] = &[
    (Rows, "SELECT * FROM dim_hospital"),
    (Either, "SELECT hospital_name FROM dim_hospital WHERE hospital_id = {other}"),
    (Rows, "SELECT * FROM dim_hospital WHERE hospital_id = {other} OR 1 = 1"),
    (Rows, "SELECT hospital_name FROM dim_hospital UNION ALL SELECT hospital_name FROM dim_hospital"),
    (Rows, "WITH h AS (SELECT * FROM dim_hospital) SELECT * FROM h"),
    (Rows, "SELECT h.hospital_name, d.doctor_id FROM dim_doctor d JOIN dim_hospital h ON d.hospital_id = h.hospital_id AND d.dt = h.dt"),
    (Rows, "SELECT (SELECT string_agg(hospital_name, ',') FROM dim_hospital)"),
    (Rows, "SELECT hospital_name, row_number() OVER (ORDER BY hospital_id) FROM dim_hospital"),
    (Either, "SELECT 1 / (hospital_id - {other}) FROM dim_hospital"),
    (Either, "SELECT CAST(hospital_name AS INT) FROM dim_hospital"),
    (Rows, "SELECT * FROM ads_hospital_ranking"),
    (Rows, "SELECT * FROM ads_metric_value WHERE dimension = 'hospital'"),
    (Either, "SELECT * FROM ads_metric_value WHERE dimension_label IS NOT NULL"),
    (Rows, "SELECT * FROM dws_hospital_1d"),
    (Rows, "SELECT hospital_id, count(*) FROM dwd_consultation_paid GROUP BY hospital_id"),
    (Rows, "EXPLAIN SELECT * FROM dim_hospital"),
    (Fails, "SELECT * FROM ods_hospital_full"),
    (Fails, "EXPLAIN ANALYZE SELECT * FROM dim_hospital"),
];
