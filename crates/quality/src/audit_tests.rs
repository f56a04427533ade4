//! The audit against a real lake and catalog: every kind of check finds exactly the rows
//! planted in a small partition, staged and published alike, and samples keys only.

use std::sync::Arc;

use chrono::NaiveDate;
use deltalake::arrow::array::{ArrayRef, Int64Array, StringArray};
use deltalake::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use deltalake::arrow::record_batch::RecordBatch;
use medlake_catalog::{Catalog, CheckRecord, CheckStatus};
use medlake_lake::Lake;

use crate::{Auditor, Check, Partition, QualityRules};

fn day(d: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(2026, 4, d).unwrap()
}

fn fact_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("id", DataType::Int64, true),
        Field::new("amount", DataType::Int64, true),
        Field::new("status", DataType::Int64, true),
        Field::new("doctor_id", DataType::Int64, true),
        Field::new("name", DataType::Utf8, true),
        Field::new("event_time", DataType::Utf8, true),
    ]))
}

/// Ids 1, 2, 2, 3, 4: a duplicate (2), a NULL amount (id 3), a negative one (id 2), an
/// unknown status (9), a doctor missing from the dimension (99).
fn fact_batch() -> RecordBatch {
    let ints = |v: Vec<Option<i64>>| Arc::new(Int64Array::from(v)) as ArrayRef;
    RecordBatch::try_new(
        fact_schema(),
        vec![
            ints(vec![Some(1), Some(2), Some(2), Some(3), Some(4)]),
            ints(vec![Some(5), Some(-1), Some(6), None, Some(7)]),
            ints(vec![Some(1), Some(2), Some(9), Some(1), Some(1)]),
            ints(vec![Some(10), Some(11), Some(99), Some(10), Some(11)]),
            Arc::new(StringArray::from(vec![
                "张三", "李四", "李四", "王五", "赵六",
            ])),
            Arc::new(StringArray::from(vec![
                "2026-04-03 08:00:00",
                "2026-04-03 21:30:00",
                "2026-04-03 22:00:00",
                "2026-04-03 23:10:00",
                "2026-04-03 09:00:00",
            ])),
        ],
    )
    .unwrap()
}

const CHECKS: &str = r#"
[[checks]]
kind = "not_null"
columns = ["amount"]
[[checks]]
kind = "unique"
columns = ["id"]
[[checks]]
kind = "accepted_values"
column = "status"
values = [1, 2]
[[checks]]
kind = "relationships"
column = "doctor_id"
to = "dim_d.doctor_id"
[[checks]]
kind = "range"
column = "amount"
min = 0
severity = "warn"
[[checks]]
kind = "row_count"
min = 6
[[checks]]
kind = "freshness"
column = "event_time"
max_lag_hours = 2
[[checks]]
kind = "reconcile"
left = "SELECT sum(amount) FROM dwd_t"
right = "SELECT 17"
[[checks]]
kind = "sql"
name = "late_night"
query = "SELECT id FROM dwd_t WHERE event_time > '2026-04-03 23:00:00'"
[[checks]]
kind = "volume"
band = 0.2
min_history = 2
[[checks]]
kind = "sql"
name = "broken"
query = "SELECT no_such_column FROM dwd_t"
severity = "warn"
"#;

fn rules() -> QualityRules {
    let doc: toml::Table = toml::from_str(CHECKS).unwrap();
    let checks: Vec<Check> = doc["checks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| Check::parse("dwd_t", c, "dwd_t.sql").unwrap())
        .collect();
    let mut rules = QualityRules::default();
    rules
        .add("dwd_t", checks, vec!["id".into()], vec!["name".into()])
        .unwrap();
    rules
}

async fn lake_with_dimension(dir: &std::path::Path) -> Lake {
    let lake = Lake::open(dir.to_str().unwrap(), Default::default()).unwrap();
    let schema = Arc::new(Schema::new(vec![Field::new(
        "doctor_id",
        DataType::Int64,
        true,
    )]));
    let doctors = RecordBatch::try_new(
        schema.clone(),
        vec![Arc::new(Int64Array::from(vec![10, 11]))],
    )
    .unwrap();
    lake.replace_partition("dim_d", day(3), schema, vec![doctors])
        .await
        .unwrap();
    lake
}

/// Two earlier days of 5 rows each, audited and recorded: the volume baseline.
async fn record_baseline(auditor: &Auditor<'_>) {
    for d in [1, 2] {
        let batches = [fact_batch()];
        let staged = Partition::Staged {
            schema: fact_schema(),
            batches: &batches,
            inputs: None,
        };
        let audit = auditor
            .audit("dwd_t", day(d), staged, &[], None)
            .await
            .unwrap();
        auditor.record(&audit).unwrap();
    }
}

fn by_name<'r>(results: &'r [CheckRecord], name: &str) -> &'r CheckRecord {
    results
        .iter()
        .find(|r| r.check_id == format!("dwd_t.{name}"))
        .unwrap_or_else(|| panic!("no result for {name}"))
}

#[tokio::test(flavor = "multi_thread")]
async fn every_kind_finds_the_planted_rows_staged_and_published_alike() {
    let dir = tempfile::tempdir().unwrap();
    let lake = lake_with_dimension(dir.path()).await;
    let catalog = Catalog::open_in_memory().unwrap();
    let rules = rules();
    let auditor = Auditor::new(&lake, &catalog, &rules);
    record_baseline(&auditor).await;
    let batch = fact_batch();
    let staged = Partition::Staged {
        schema: fact_schema(),
        batches: std::slice::from_ref(&batch),
        inputs: None,
    };
    let audit = auditor
        .audit("dwd_t", day(3), staged, &[], Some(7))
        .await
        .unwrap();
    let r = &audit.results;
    let status = |name: &str| by_name(r, name).status;
    assert_eq!(by_name(r, "not_null_amount").failing_rows, 1);
    assert_eq!(by_name(r, "not_null_amount").sample, ["3"]);
    assert_eq!(by_name(r, "unique_id").failing_rows, 1);
    assert_eq!(by_name(r, "unique_id").sample, ["2"]);
    assert_eq!(by_name(r, "accepted_values_status").failing_rows, 1);
    assert_eq!(by_name(r, "relationships_doctor_id").failing_rows, 1);
    assert_eq!(by_name(r, "relationships_doctor_id").sample, ["2"]);
    assert_eq!(status("range_amount"), CheckStatus::Warn);
    assert_eq!(status("row_count"), CheckStatus::Fail);
    assert_eq!(by_name(r, "row_count").observed, Some(5.0));
    // Latest event 23:10, 0.83 h before midnight.
    assert_eq!(status("freshness_event_time"), CheckStatus::Pass);
    assert_eq!(
        status("reconcile"),
        CheckStatus::Pass,
        "{:?}",
        by_name(r, "reconcile")
    );
    assert_eq!(by_name(r, "late_night").failing_rows, 1);
    assert_eq!(status("volume"), CheckStatus::Pass, "5 rows against 5, 5");
    assert_eq!(status("broken"), CheckStatus::Error);
    assert!(by_name(r, "broken").message.is_some());
    assert!(r.iter().all(|x| x.run_id == Some(7)));
    // The PHI column `name` is profiled for nulls only.
    let name = audit.profiles.iter().find(|p| p.column == "name").unwrap();
    assert_eq!((name.min.as_deref(), name.distinct_count), (None, None));
    let amount = audit
        .profiles
        .iter()
        .find(|p| p.column == "amount")
        .unwrap();
    assert_eq!((amount.null_count, amount.min.as_deref()), (1, Some("-1")));
    // Blocking: the error checks that failed, not the warnings.
    let blocking: Vec<&str> = audit
        .blocking()
        .iter()
        .map(|b| b.check_id.as_str())
        .collect();
    assert!(blocking.contains(&"dwd_t.unique_id"));
    assert!(!blocking.contains(&"dwd_t.range_amount"));
    assert!(
        !blocking.contains(&"dwd_t.broken"),
        "a warn check that cannot run warns"
    );
    let verdict = audit.verdict().unwrap();
    assert!(
        verdict.contains("dwd_t.unique_id found 1 failing row"),
        "{verdict}"
    );
    assert!(
        !verdict.contains("张三") && !verdict.contains("李四"),
        "{verdict}"
    );

    // The same rows published give the same results.
    lake.replace_partition("dwd_t", day(3), fact_schema(), vec![batch])
        .await
        .unwrap();
    let published = auditor
        .audit("dwd_t", day(3), Partition::Published, &[], Some(7))
        .await
        .unwrap();
    let shape = |rs: &[CheckRecord]| -> Vec<(String, CheckStatus, u64)> {
        rs.iter()
            .map(|x| (x.check_id.clone(), x.status, x.failing_rows))
            .collect()
    };
    assert_eq!(shape(&published.results), shape(&audit.results));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_volume_drop_fails_against_its_history_and_results_reach_the_lake() {
    let dir = tempfile::tempdir().unwrap();
    let lake = lake_with_dimension(dir.path()).await;
    let catalog = Catalog::open_in_memory().unwrap();
    let rules = rules();
    let auditor = Auditor::new(&lake, &catalog, &rules);
    record_baseline(&auditor).await;
    let two_rows = [fact_batch().slice(0, 2)];
    let staged = Partition::Staged {
        schema: fact_schema(),
        batches: &two_rows,
        inputs: None,
    };
    let audit = auditor
        .audit("dwd_t", day(3), staged, &[], None)
        .await
        .unwrap();
    let volume = by_name(&audit.results, "volume");
    assert_eq!(volume.status, CheckStatus::Fail, "{volume:?}");
    assert_eq!(volume.observed, Some(2.0));
    assert!(volume.expected.starts_with("[4, 6]"), "{}", volume.expected);
    auditor.record(&audit).unwrap();
    let rows = crate::publish_results(&lake, &catalog, day(3))
        .await
        .unwrap();
    assert_eq!(rows as usize, audit.results.len());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_stale_partition_and_a_drifting_mean_are_caught() {
    let dir = tempfile::tempdir().unwrap();
    let lake = lake_with_dimension(dir.path()).await;
    let catalog = Catalog::open_in_memory().unwrap();
    let doc: toml::Table = toml::from_str(
        r#"
[[checks]]
kind = "freshness"
column = "event_time"
max_lag_hours = 2
[[checks]]
kind = "distribution"
column = "amount"
measure = "mean"
band = 0.2
min_history = 2
severity = "warn"
[[checks]]
kind = "distribution"
column = "amount"
name = "amount_nulls"
measure = "null_rate"
max_delta = 0.5
min_history = 2
"#,
    )
    .unwrap();
    let checks: Vec<Check> = doc["checks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| Check::parse("dwd_t", c, "dwd_t.sql").unwrap())
        .collect();
    let mut rules = QualityRules::default();
    rules
        .add("dwd_t", checks, vec!["id".into()], vec![])
        .unwrap();
    let auditor = Auditor::new(&lake, &catalog, &rules);
    record_baseline(&auditor).await;
    // The first two rows: amounts 5 and -1 (mean 2 against 4.25 before), the latest event
    // at 21:30, 2.5 hours before midnight.
    let two_rows = [fact_batch().slice(0, 2)];
    let staged = Partition::Staged {
        schema: fact_schema(),
        batches: &two_rows,
        inputs: None,
    };
    let audit = auditor
        .audit("dwd_t", day(3), staged, &[], None)
        .await
        .unwrap();
    let freshness = by_name(&audit.results, "freshness_event_time");
    assert_eq!(freshness.status, CheckStatus::Fail, "{freshness:?}");
    assert_eq!(freshness.observed, Some(2.5));
    let mean = by_name(&audit.results, "distribution_amount");
    assert_eq!(mean.status, CheckStatus::Warn, "{mean:?}");
    assert_eq!(mean.observed, Some(2.0));
    assert!(mean.expected.starts_with("[3.4, 5.1]"), "{}", mean.expected);
    // Null rate 0 against 0.2 before: within 0.5.
    let nulls = by_name(&audit.results, "amount_nulls");
    assert_eq!(nulls.status, CheckStatus::Pass, "{nulls:?}");
    let blocking: Vec<&str> = audit
        .blocking()
        .iter()
        .map(|b| b.check_id.as_str())
        .collect();
    assert_eq!(blocking, ["dwd_t.freshness_event_time"]);
}
