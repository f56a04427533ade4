//! Secrets are found in a lake schema and taken out of change records, and nothing else
//! changes.

use super::*;
use deltalake::arrow::array::Int64Array;

fn user() -> &'static Table {
    medlake_schema::table("user").unwrap()
}

/// Two change records of `user` as an older medlake could land them: the hash in `data`,
/// and named in `old` (an update of it) and in `data_extra` (spelled differently).
fn legacy_records() -> RecordBatch {
    let data_fields = Fields::from(vec![
        Field::new("id", DataType::Int64, false),
        Field::new("hashed_password", DataType::Utf8, false),
        Field::new("email", DataType::Utf8, false),
    ]);
    let data = StructArray::try_new(
        data_fields.clone(),
        vec![
            Arc::new(Int64Array::from(vec![1, 2])),
            Arc::new(StringArray::from(vec!["hash-1", "hash-2"])),
            Arc::new(StringArray::from(vec!["a@x", "b@x"])),
        ],
        None,
    )
    .unwrap();
    let schema = Schema::new(vec![
        Field::new("type", DataType::Utf8, false),
        Field::new("data", DataType::Struct(data_fields), false),
        Field::new("old", DataType::Utf8, true),
        Field::new("data_extra", DataType::Utf8, true),
    ]);
    let old = r#"{"hashed_password":"hash-0","fee":12345678901234567.89,"email":"o@x"}"#;
    RecordBatch::try_new(
        Arc::new(schema),
        vec![
            Arc::new(StringArray::from(vec!["update", "insert"])),
            Arc::new(data),
            Arc::new(StringArray::from(vec![Some(old), None])),
            Arc::new(StringArray::from(vec![
                None,
                Some(r#"{"Hashed_Password":"hash-9"}"#),
            ])),
        ],
    )
    .unwrap()
}

fn text_column<'a>(batch: &'a RecordBatch, name: &str) -> &'a StringArray {
    batch
        .column_by_name(name)
        .unwrap()
        .as_any()
        .downcast_ref::<StringArray>()
        .unwrap()
}

#[test]
fn secrets_are_found_in_columns_and_in_data_fields() {
    let records = legacy_records();
    assert_eq!(
        landed_secret_columns(user(), &records.schema()),
        ["data.hashed_password"]
    );
    let snapshot = Schema::new(vec![
        Field::new("id", DataType::Int64, false),
        Field::new("hashed_password", DataType::Utf8, false),
    ]);
    assert_eq!(
        landed_secret_columns(user(), &snapshot),
        ["hashed_password"]
    );
    // What capture writes today holds none.
    let current = crate::change_record_schema(user());
    assert!(landed_secret_columns(user(), &current).is_empty());
    assert!(landed_secret_columns(user(), &medlake_source::arrow_schema(user())).is_empty());
}

#[test]
fn change_records_lose_their_secrets_and_keep_everything_else() {
    let mut dropped = BTreeSet::new();
    let clean = without_secrets(user(), &legacy_records(), true, &mut dropped).unwrap();
    assert_eq!(
        dropped.into_iter().collect::<Vec<_>>(),
        [
            "data.hashed_password",
            "data_extra.Hashed_Password",
            "old.hashed_password"
        ]
    );
    assert!(landed_secret_columns(user(), &clean.schema()).is_empty());
    // The other members keep their order and their exact digits.
    let old = text_column(&clean, "old");
    assert_eq!(
        old.value(0),
        r#"{"fee":12345678901234567.89,"email":"o@x"}"#
    );
    assert!(old.is_null(1));
    // An emptied data_extra is NULL, as capture writes a record without extra columns.
    let extra = text_column(&clean, "data_extra");
    assert!(extra.is_null(0) && extra.is_null(1));
    let data = clean
        .column_by_name("data")
        .unwrap()
        .as_any()
        .downcast_ref::<StructArray>()
        .unwrap();
    assert_eq!(data.num_columns(), 2);
    let emails = data
        .column_by_name("email")
        .unwrap()
        .as_any()
        .downcast_ref::<StringArray>()
        .unwrap();
    assert_eq!(emails.value(1), "b@x");
    assert_eq!(text_column(&clean, "type").value(0), "update");
}

#[test]
fn records_without_secrets_are_left_as_they_are() {
    let mut dropped = BTreeSet::new();
    let once = without_secrets(user(), &legacy_records(), true, &mut dropped).unwrap();
    let mut again = BTreeSet::new();
    let twice = without_secrets(user(), &once, true, &mut again).unwrap();
    assert!(again.is_empty(), "{again:?}");
    assert_eq!(once, twice);
}

#[test]
fn a_table_without_rows_gets_the_schema_without_secrets() {
    let schema = schema_without_secrets(user(), &legacy_records().schema());
    assert!(landed_secret_columns(user(), &schema).is_empty());
    assert_eq!(schema.fields().len(), 4);
}

#[test]
fn the_refusal_names_the_command_that_mends_it() {
    let message = SecretsError::Landed {
        table: "ods_user_full".into(),
        columns: "hashed_password".into(),
    }
    .to_string();
    assert!(message.contains("ods_user_full"), "{message}");
    assert!(message.contains("medlake lake forget-secrets"), "{message}");
    assert!(!message.contains('\n'), "one line: {message}");
}
