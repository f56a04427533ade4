//! Unit tests of the change shapes: Maxwell JSON, Kafka keys and lake records.

use super::*;

fn payment_change() -> RowChange {
    let table = medlake_schema::table("payment").unwrap();
    let t = |s| MyValue::Date(2026, 3, 1, 23, 59, s, 500_000);
    let row = |status: i64, update| {
        vec![
            MyValue::Int(7),
            MyValue::Int(3),
            MyValue::Int(11),
            MyValue::NULL,
            MyValue::Bytes(b"12.50".to_vec()),
            MyValue::Int(status),
            t(1),
            update,
        ]
    };
    RowChange {
        database: "medical".into(),
        table,
        kind: ChangeKind::Update,
        ts: 1_772_380_799,
        xid: Some(42),
        commit: true,
        position: Some(BinlogPosition::new("binlog.000001", 1234)),
        data: row(203, t(59)),
        before: Some(row(202, t(1))),
        extra: BTreeMap::new(),
        extra_before: BTreeMap::new(),
    }
}

#[test]
fn maxwell_json_has_the_changed_columns_only_in_old() {
    let j = payment_change().maxwell_json();
    assert_eq!(j["type"], "update");
    assert_eq!(j["position"], "binlog.000001:1234");
    assert_eq!(j["xid"], 42);
    assert_eq!(j["commit"], true);
    assert_eq!(j["primary_key"], json!([7]));
    assert_eq!(j["data"]["payment_amount"], json!(12.5));
    assert_eq!(j["data"]["prescription_id"], Json::Null);
    assert_eq!(j["data"]["update_time"], "2026-03-01 23:59:59.500000");
    assert_eq!(
        j["old"],
        json!({"status": 202, "update_time": "2026-03-01 23:59:01.500000"})
    );
}

#[test]
fn maxwell_json_reads_back_into_the_same_change() {
    let mut change = payment_change();
    change
        .extra
        .insert("channel".into(), MyValue::Bytes(b"app".to_vec()));
    let json = change.maxwell_json();
    let back = RowChange::from_maxwell_json(&json).unwrap();
    assert_eq!(back.maxwell_json(), json);
    assert_eq!(back.kind, ChangeKind::Update);
    assert_eq!(back.position, change.position);
    assert_eq!(back.event_day(), "2026-03-01");
    let direct = lake_records(change.table, &[&change]).unwrap();
    let via_json = lake_records(back.table, &[&back]).unwrap();
    assert_eq!(direct, via_json);
}

#[test]
fn malformed_maxwell_json_is_refused_by_field_without_values() {
    let mut json = payment_change().maxwell_json();
    json["data"]["status"] = json!("ok-secret");
    let err = RowChange::from_maxwell_json(&json).unwrap_err();
    assert_eq!(err, "payment.status does not fit its type");
    assert!(RowChange::from_maxwell_json(&json!({"table": "payment"})).is_err());
}

#[test]
fn a_change_belongs_to_the_local_day_of_its_update_time() {
    // 23:59:59 local on March 1st is already March 1st 15:59 UTC; the day is March 1st
    // whatever the event's arrival.
    assert_eq!(payment_change().event_day(), "2026-03-01");
}

#[test]
fn lake_records_carry_old_and_unknown_columns() {
    let mut change = payment_change();
    change
        .extra
        .insert("channel".into(), MyValue::Bytes(b"app".to_vec()));
    let batch = lake_records(change.table, &[&change]).unwrap();
    assert_eq!(batch.num_rows(), 1);
    let text = |name: &str| {
        let col = batch.column_by_name(name).unwrap();
        deltalake::arrow::util::display::array_value_to_string(col, 0).unwrap()
    };
    assert_eq!(text("type"), "update");
    assert_eq!(text("dt"), "2026-03-01");
    assert_eq!(text("data_extra"), r#"{"channel":"app"}"#);
    assert!(text("old").contains(r#""status":202"#), "{}", text("old"));
}

#[test]
fn split_by_schema_keeps_unknown_columns_apart() {
    let table = medlake_schema::table("dict").unwrap();
    let names =
        ["id", "value", "note", "create_time", "update_time"].map(std::borrow::Cow::Borrowed);
    let values = vec![
        MyValue::Int(101),
        MyValue::Bytes(b"x".to_vec()),
        MyValue::Int(1),
        MyValue::NULL,
        MyValue::NULL,
    ];
    let (data, extra) = split_by_schema(table, names, values);
    assert_eq!(data.len(), 4);
    assert_eq!(data[1], MyValue::Bytes(b"x".to_vec()));
    assert_eq!(extra.get("note"), Some(&MyValue::Int(1)));
}

#[test]
fn money_keeps_every_digit_through_maxwell_json() {
    let mut change = payment_change();
    let amount = change.table.captured_index("payment_amount").unwrap();
    change.data[amount] = MyValue::Bytes(b"12345678901234567.89".to_vec());
    let line = change.maxwell_line();
    assert!(
        line.contains(r#""payment_amount":12345678901234567.89"#),
        "{line}"
    );
    // The old value too, exact.
    assert!(line.contains(r#""old":{"#), "{line}");
    let back = RowChange::from_maxwell_text(&line).unwrap();
    assert_eq!(
        back.data[amount],
        MyValue::Bytes(b"12345678901234567.89".to_vec())
    );
    let direct = lake_records(change.table, &[&change]).unwrap();
    let via_kafka = lake_records(back.table, &[&back]).unwrap();
    assert_eq!(direct, via_kafka);
    // A float in exponent notation, as an older writer left it, still lands (rounded).
    let old_style = line.replace("12345678901234567.89", "1.2345678901234568e16");
    let back = RowChange::from_maxwell_text(&old_style).unwrap();
    assert_eq!(
        back.data[amount],
        MyValue::Bytes(b"12345678901234568.00".to_vec())
    );
}

#[test]
fn a_zero_date_lands_the_same_way_directly_and_through_maxwell_json() {
    let mut change = payment_change();
    let create = change.table.captured_index("create_time").unwrap();
    let update = change.table.captured_index("update_time").unwrap();
    change.data[create] = MyValue::Date(0, 0, 0, 0, 0, 0, 0);
    change.data[update] = MyValue::Date(0, 0, 0, 0, 0, 0, 0);
    let line = change.maxwell_line();
    assert!(line.contains("0000-00-00 00:00:00.000000"), "{line}");
    let back = RowChange::from_maxwell_text(&line).unwrap();
    let direct = lake_records(change.table, &[&change]).unwrap();
    let via_kafka = lake_records(back.table, &[&back]).unwrap();
    assert_eq!(direct, via_kafka);
    // No day from a zero update_time: the binlog event's own day.
    assert_eq!(
        change.event_day(),
        medlake_changes::event_day_of_epoch(change.ts)
    );
    let batch = direct;
    let data = batch
        .column_by_name("data")
        .unwrap()
        .as_any()
        .downcast_ref::<deltalake::arrow::array::StructArray>()
        .unwrap();
    let created = deltalake::arrow::util::display::array_value_to_string(
        data.column_by_name("create_time").unwrap(),
        0,
    )
    .unwrap();
    assert!(created.starts_with("0001-01-01"), "{created}");
}

/// A `user` row as the binlog carries it (every column of the business table, the password
/// hash included), split as capture splits it.
fn user_row(hash: &str, second: u8) -> (Vec<MyValue>, BTreeMap<String, MyValue>) {
    use medlake_schema::ColumnType;
    let table = medlake_schema::table("user").unwrap();
    let values = table
        .columns
        .iter()
        .map(|c| match (c.name, c.ty) {
            ("id", _) => MyValue::Int(9),
            ("hashed_password", _) => MyValue::Bytes(hash.as_bytes().to_vec()),
            ("update_time", _) => MyValue::Date(2026, 3, 1, 8, 0, second, 0),
            (_, ColumnType::DateTime) => MyValue::Date(2026, 3, 1, 8, 0, 0, 0),
            _ => MyValue::Bytes(b"x".to_vec()),
        })
        .collect();
    let names = table.column_names().map(std::borrow::Cow::Borrowed);
    split_by_schema(table, names, values)
}

/// An update of a user's password hash (and so of `update_time`), as the binlog has it.
fn user_password_change() -> RowChange {
    let (data, extra) = user_row("hash-new", 30);
    let (before, extra_before) = user_row("hash-old", 0);
    RowChange {
        database: "medical".into(),
        table: medlake_schema::table("user").unwrap(),
        kind: ChangeKind::Update,
        ts: 1_772_323_230,
        xid: Some(7),
        commit: true,
        position: Some(BinlogPosition::new("binlog.000001", 99)),
        data,
        before: Some(before),
        extra,
        extra_before,
    }
}

#[test]
fn a_secret_column_is_dropped_from_binlog_rows_by_name() {
    let table = medlake_schema::table("user").unwrap();
    let (data, extra) = user_row("hash-new", 0);
    assert_eq!(data.len(), table.captured_columns().len());
    assert!(extra.is_empty(), "a secret became an undeclared column");
    assert!(!data.contains(&MyValue::Bytes(b"hash-new".to_vec())));
    // Spelled otherwise (MySQL ignores the case of column names): still dropped.
    let names = ["id", "HASHED_PASSWORD"].map(std::borrow::Cow::Borrowed);
    let values = vec![MyValue::Int(9), MyValue::Bytes(b"hash-new".to_vec())];
    let (_, extra) = split_by_schema(table, names, values);
    assert!(extra.is_empty(), "{:?}", extra.keys());
}

#[test]
fn a_password_change_leaves_no_hash_in_maxwell_json_or_lake_records() {
    let change = user_password_change();
    let line = change.maxwell_line();
    assert!(
        !line.contains("hash-") && !line.contains("password"),
        "{line}"
    );
    assert_eq!(
        change.maxwell_json()["old"],
        json!({"update_time": "2026-03-01 08:00:00.000000"})
    );
    let batch = lake_records(change.table, &[&change]).unwrap();
    assert!(medlake_changes::landed_secret_columns(change.table, &batch.schema()).is_empty());
    for column in batch.columns() {
        let text = deltalake::arrow::util::display::array_value_to_string(column, 0).unwrap();
        assert!(!text.contains("hash-"), "{text}");
    }
}

#[test]
fn maxwell_json_carrying_a_secret_lands_without_it() {
    // A message an older medlake (or Maxwell itself) published: the hash in data and old.
    let change = user_password_change();
    let mut json = change.maxwell_json();
    json["data"]["hashed_password"] = json!("hash-new");
    json["old"]["hashed_password"] = json!("hash-old");
    let back = RowChange::from_maxwell_json(&json).unwrap();
    assert!(back.extra.is_empty() && back.extra_before.is_empty());
    assert_eq!(back.maxwell_line(), change.maxwell_line());
    assert_eq!(
        lake_records(back.table, &[&back]).unwrap(),
        lake_records(change.table, &[&change]).unwrap()
    );
}
