//! The business tables (docs/domain.md, 'Business tables'), declared once.

use std::sync::OnceLock;

use crate::{Column, ColumnType as T, Table, TableKind};

const fn col(name: &'static str, ty: T) -> Column {
    Column {
        name,
        ty,
        nullable: false,
        phi: false,
        secret: false,
    }
}

const fn phi(name: &'static str, ty: T) -> Column {
    Column {
        name,
        ty,
        nullable: false,
        phi: true,
        secret: false,
    }
}

/// A column holding a secret (a password hash, a token): in the business database, never
/// in the lake.
const fn secret(name: &'static str, ty: T) -> Column {
    Column {
        name,
        ty,
        nullable: false,
        phi: false,
        secret: true,
    }
}

const fn nullable(mut c: Column) -> Column {
    c.nullable = true;
    c
}

fn build(
    name: &'static str,
    kind: TableKind,
    changes: bool,
    doc: &'static str,
    body: &[Column],
) -> Table {
    let mut columns = vec![col("id", T::BigInt)];
    columns.extend_from_slice(body);
    columns.push(col("create_time", T::DateTime));
    columns.push(col("update_time", T::DateTime));
    Table::new(name, kind, changes, doc, columns)
}

/// All business tables, masters first, in the order they are created and synced.
pub fn business_tables() -> &'static [Table] {
    static TABLES: OnceLock<Vec<Table>> = OnceLock::new();
    TABLES.get_or_init(|| {
        use TableKind::{Master, Transaction};
        vec![
            build(
                "dict",
                Master,
                false,
                "Codes and their labels; the id is the code.",
                &[col("value", T::Varchar(64))],
            ),
            build(
                "hospital",
                Master,
                false,
                "Partner hospitals.",
                &[
                    col("name", T::Varchar(128)),
                    col("alias", T::Varchar(64)),
                    col("level", T::Varchar(16)),
                    col("province", T::Varchar(32)),
                    col("city", T::Varchar(32)),
                    col("district", T::Varchar(32)),
                    col("street", T::Varchar(64)),
                    col("address", T::Varchar(255)),
                    col("establish_time", T::DateTime),
                    col("bed_num", T::Int),
                    col("department_num", T::Int),
                    col("health_care_num", T::Int),
                    col("insurance", T::Bool),
                ],
            ),
            build(
                "scanner",
                Master,
                false,
                "Imaging devices (scanners) of partner hospitals, with their DICOM AE titles.",
                &[
                    col("hospital_id", T::BigInt),
                    col("modality", T::Varchar(8)),
                    col("ae_title", T::Varchar(16)),
                    col("station_name", T::Varchar(32)),
                    col("manufacturer", T::Varchar(32)),
                    col("model_name", T::Varchar(64)),
                ],
            ),
            build(
                "medicine",
                Master,
                false,
                "The drug catalogue.",
                &[
                    col("name", T::Varchar(128)),
                    col("name_en", T::Varchar(128)),
                    col("trade_name", T::Varchar(128)),
                    col("dose_type", T::Varchar(32)),
                    col("specs", T::Varchar(64)),
                    col("approval_code", T::Varchar(32)),
                    col("price", T::Money),
                ],
            ),
            build(
                "doctor",
                Master,
                true,
                "Doctors of partner hospitals; create_time is registration.",
                &[
                    phi("name", T::Varchar(64)),
                    col("gender", T::Int),
                    phi("birthday", T::Date),
                    col("title", T::Int),
                    col("specialty", T::Int),
                    col("consultation_fee", T::Money),
                    col("hospital_id", T::BigInt),
                    secret("password", T::Varchar(128)),
                ],
            ),
            build(
                "user",
                Master,
                true,
                "App accounts; create_time is registration.",
                &[
                    phi("username", T::Varchar(64)),
                    phi("telephone", T::Varchar(20)),
                    phi("email", T::Varchar(128)),
                    secret("hashed_password", T::Varchar(128)),
                ],
            ),
            build(
                "patient",
                Master,
                true,
                "Patients (family members) added by a user.",
                &[
                    col("user_id", T::BigInt),
                    phi("name", T::Varchar(64)),
                    col("gender", T::Int),
                    phi("birthday", T::Date),
                    phi("id_card_no", T::Varchar(18)),
                ],
            ),
            build(
                "consultation",
                Transaction,
                true,
                "One paid online consultation and its life cycle.",
                &[
                    col("user_id", T::BigInt),
                    col("patient_id", T::BigInt),
                    col("doctor_id", T::BigInt),
                    col("consultation_fee", T::Money),
                    nullable(phi("description", T::Text)),
                    nullable(phi("diagnosis", T::Text)),
                    nullable(col("rating", T::Int)),
                    nullable(phi("review", T::Text)),
                    col("status", T::Int),
                ],
            ),
            build(
                "prescription",
                Transaction,
                true,
                "Prescription header issued in a consultation.",
                &[
                    col("consultation_id", T::BigInt),
                    col("doctor_id", T::BigInt),
                    col("patient_id", T::BigInt),
                    col("total_amount", T::Money),
                    phi("instruction", T::Text),
                    col("status", T::Int),
                ],
            ),
            build(
                "prescription_detail",
                Transaction,
                true,
                "One medicine line of a prescription.",
                &[
                    col("prescription_id", T::BigInt),
                    col("medicine_id", T::BigInt),
                    col("count", T::Int),
                    phi("instruction", T::Text),
                ],
            ),
            build(
                "payment",
                Transaction,
                true,
                "One payable: a consultation fee or a prescription.",
                &[
                    col("user_id", T::BigInt),
                    nullable(col("consultation_id", T::BigInt)),
                    nullable(col("prescription_id", T::BigInt)),
                    nullable(col("payment_amount", T::Money)),
                    col("status", T::Int),
                ],
            ),
            build(
                "exam_order",
                Transaction,
                true,
                "One imaging exam a doctor ordered in a consultation, and its life cycle.",
                &[
                    col("consultation_id", T::BigInt),
                    col("patient_id", T::BigInt),
                    col("doctor_id", T::BigInt),
                    col("hospital_id", T::BigInt),
                    nullable(col("scanner_id", T::BigInt)),
                    col("modality", T::Varchar(8)),
                    col("body_part", T::Varchar(16)),
                    col("exam_item", T::Varchar(32)),
                    col("priority", T::Int),
                    col("fee", T::Money),
                    col("accession_no", T::Varchar(16)),
                    col("status", T::Int),
                    col("ordered_time", T::DateTime),
                    nullable(col("paid_time", T::DateTime)),
                    nullable(col("scheduled_time", T::DateTime)),
                    nullable(col("performed_time", T::DateTime)),
                    nullable(col("exam_minutes", T::Int)),
                    nullable(col("reported_time", T::DateTime)),
                    nullable(col("verified_time", T::DateTime)),
                    nullable(col("cancelled_time", T::DateTime)),
                ],
            ),
            build(
                "exam_report",
                Transaction,
                true,
                "The structured result of a reported imaging exam; the id is the exam order's.",
                &[
                    col("exam_order_id", T::BigInt),
                    col("radiologist_id", T::BigInt),
                    col("positive", T::Bool),
                    col("critical", T::Bool),
                    col("reported_time", T::DateTime),
                    nullable(col("verified_time", T::DateTime)),
                    nullable(col("critical_ack_time", T::DateTime)),
                    phi("findings", T::Text),
                ],
            ),
        ]
    })
}

/// A business table by name.
pub fn table(name: &str) -> Option<&'static Table> {
    business_tables().iter().find(|t| t.name == name)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Dialect;

    #[test]
    fn every_table_has_id_first_and_times_last() {
        for t in business_tables() {
            let names: Vec<_> = t.column_names().collect();
            assert_eq!(names[0], "id", "{}", t.name);
            assert_eq!(
                &names[names.len() - 2..],
                ["create_time", "update_time"],
                "{}",
                t.name
            );
        }
    }

    #[test]
    fn password_hashes_are_secret_and_never_captured() {
        let secrets: Vec<(&str, &str)> = business_tables()
            .iter()
            .flat_map(|t| t.secret_columns().map(move |c| (t.name, c.name)))
            .collect();
        assert_eq!(
            secrets,
            [("doctor", "password"), ("user", "hashed_password")]
        );
        for t in business_tables() {
            // A column whose name says it holds a secret must be declared one.
            for c in &t.columns {
                let name = c.name.to_ascii_lowercase();
                if ["password", "token", "secret", "salt"]
                    .iter()
                    .any(|w| name.contains(w))
                {
                    assert!(c.secret, "{}.{} is not declared secret", t.name, c.name);
                }
            }
            assert!(t.captured_columns().iter().all(|c| !c.secret), "{}", t.name);
            assert_eq!(
                t.captured_columns().len() + t.secret_columns().count(),
                t.columns.len(),
                "{}",
                t.name
            );
        }
        let user = table("user").unwrap();
        assert!(user.is_secret("hashed_password") && user.is_secret("Hashed_Password"));
        assert_eq!(user.captured_index("hashed_password"), None);
        assert_eq!(user.captured_index("update_time"), Some(5));
        assert_eq!(user.column_index("update_time"), Some(6));
        // The business database keeps the column: only the lake goes without it.
        assert!(user.ddl(Dialect::Mysql).contains("hashed_password"));
    }

    #[test]
    fn masters_come_first_and_the_exam_tables_follow_the_consultation() {
        let tables = business_tables();
        let first_transaction = tables
            .iter()
            .position(|t| t.kind == TableKind::Transaction)
            .unwrap();
        assert!(tables[..first_transaction]
            .iter()
            .all(|t| t.kind == TableKind::Master));
        assert!(tables[first_transaction..]
            .iter()
            .all(|t| t.kind == TableKind::Transaction));
        let at = |name: &str| tables.iter().position(|t| t.name == name).unwrap();
        assert_eq!(at("scanner"), at("hospital") + 1);
        assert!(at("payment") < at("exam_order") && at("exam_order") < at("exam_report"));
        let scanner = table("scanner").unwrap();
        assert!(scanner.kind == TableKind::Master && !scanner.changes);
        let order = table("exam_order").unwrap();
        let report = table("exam_report").unwrap();
        assert!(order.changes && report.changes);
        assert_eq!((order.columns.len(), report.columns.len()), (23, 11));
        assert!(order.columns.iter().all(|c| !c.phi));
        let phi: Vec<&str> = report
            .columns
            .iter()
            .filter(|c| c.phi)
            .map(|c| c.name)
            .collect();
        assert_eq!(phi, ["findings"]);
    }

    #[test]
    fn mysql_ddl_quotes_reserved_names() {
        let ddl = table("user").unwrap().ddl(Dialect::Mysql);
        assert!(
            ddl.starts_with("CREATE TABLE IF NOT EXISTS `user`"),
            "{ddl}"
        );
        assert!(ddl.contains("DATETIME(6)"));
        let ddl = table("payment").unwrap().ddl(Dialect::Sqlite);
        assert!(ddl.contains("\"consultation_id\" INTEGER,"), "{ddl}");
        assert!(ddl.contains("CREATE INDEX IF NOT EXISTS"));
    }
}
