//! Unit tests of the lake: partition overwrite, schema merge, table cache, checkpoints.

use super::*;
use deltalake::arrow::array::Int64Array;
use deltalake::arrow::datatypes::{DataType, Field, Schema};

fn jan(day: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(2026, 1, day).unwrap()
}

fn ids(values: &[i64]) -> (SchemaRef, RecordBatch) {
    let schema = Arc::new(Schema::new(vec![Field::new("id", DataType::Int64, false)]));
    let column = Arc::new(Int64Array::from(values.to_vec()));
    let batch = RecordBatch::try_new(schema.clone(), vec![column]).expect("one column");
    (schema, batch)
}

async fn rows(lake: &Lake, name: &str) -> usize {
    let ctx = SessionContext::new();
    lake.register(&ctx, name).await.unwrap();
    let batches = ctx
        .sql(&format!("SELECT id FROM {name}"))
        .await
        .unwrap()
        .collect()
        .await
        .unwrap();
    batches.iter().map(RecordBatch::num_rows).sum()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_table_opened_before_sees_every_later_commit() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().to_str().unwrap();
    let (reader, writer) = (
        Lake::open(path, HashMap::new()).unwrap(),
        Lake::open(path, HashMap::new()).unwrap(),
    );
    assert!(reader.load("t").await.unwrap().is_none());

    let (schema, day1) = ids(&[1, 2]);
    writer
        .replace_partition("t", jan(1), schema.clone(), vec![day1])
        .await
        .unwrap();
    assert_eq!(rows(&reader, "t").await, 2);

    // Another writer commits after the reader has opened the table.
    let (_, day2) = ids(&[3, 4, 5]);
    writer
        .replace_partition("t", jan(2), schema.clone(), vec![day2])
        .await
        .unwrap();
    let seen = reader.load("t").await.unwrap().unwrap();
    assert_eq!(seen.version(), Some(1));
    assert_eq!(rows(&reader, "t").await, 5);

    // The reader's own overwrite, and the other lake sees it.
    let (_, again) = ids(&[9]);
    reader
        .replace_partition("t", jan(1), schema, vec![again])
        .await
        .unwrap();
    assert_eq!(rows(&reader, "t").await, 4);
    assert_eq!(rows(&writer, "t").await, 4);
    assert_eq!(reader.load("t").await.unwrap().unwrap().version(), Some(2));
}

#[test]
fn checkpoints_come_every_interval_at_staggered_versions() {
    let interval = u64::from(CHECKPOINT_INTERVAL);
    let names: Vec<String> = (0..40).map(|i| format!("dws_table_{i}")).collect();
    let mut due_at = std::collections::BTreeSet::new();
    for name in &names {
        let due: Vec<u64> = (0..3 * interval)
            .filter(|v| checkpoint_due(name, *v))
            .collect();
        assert!(
            !checkpoint_due(name, 0),
            "{name}: nothing to checkpoint at 0"
        );
        assert!(due.len() >= 2, "{name}: {due:?}");
        assert!(due[0] <= interval, "{name}: first at {}", due[0]);
        assert!(
            due.windows(2).all(|w| w[1] - w[0] == interval),
            "{name}: {due:?}"
        );
        due_at.insert(due[0] % interval);
    }
    assert!(
        due_at.len() >= 5,
        "tables checkpoint on different days: {due_at:?}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_table_checkpoints_when_due_and_reads_the_same() {
    let dir = tempfile::tempdir().unwrap();
    let lake = Lake::open(dir.path().to_str().unwrap(), HashMap::new()).unwrap();
    let name = "t";
    let first_due = (1..=u64::from(CHECKPOINT_INTERVAL))
        .find(|v| checkpoint_due(name, *v))
        .unwrap();
    for day in 0..=first_due {
        let (schema, batch) = ids(&[day as i64]);
        lake.replace_partition(name, jan(day as u32 + 1), schema, vec![batch])
            .await
            .unwrap();
    }
    let log = dir.path().join(name).join("_delta_log");
    let checkpoints: Vec<String> = std::fs::read_dir(&log)
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter(|f| f.ends_with(".checkpoint.parquet"))
        .collect();
    assert_eq!(checkpoints, [format!("{first_due:020}.checkpoint.parquet")]);
    let fresh = Lake::open(dir.path().to_str().unwrap(), HashMap::new()).unwrap();
    assert_eq!(rows(&fresh, name).await, first_due as usize + 1);
}
