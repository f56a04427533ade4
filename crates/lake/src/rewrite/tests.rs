//! A column dropped by a rewrite and a purge is gone from the table's schema, its files and
//! its log, while the rows, the writers' `txn` markers and later appends are kept.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use deltalake::arrow::array::{Int64Array, StringArray};
use deltalake::arrow::datatypes::{DataType, Field, Schema};
use deltalake::arrow::record_batch::RecordBatch;

use crate::{AppTransaction, Lake, PARTITION_COLUMN};

/// One row `(id, "hash-of-<id>", dt)`, or without the secret column.
fn row(id: i64, with_secret: bool) -> RecordBatch {
    let mut fields = vec![Field::new("id", DataType::Int64, false)];
    let mut columns: Vec<Arc<dyn deltalake::arrow::array::Array>> =
        vec![Arc::new(Int64Array::from(vec![id]))];
    if with_secret {
        fields.push(Field::new("secret", DataType::Utf8, false));
        columns.push(Arc::new(StringArray::from(vec![format!("hash-of-{id}")])));
    }
    fields.push(Field::new(PARTITION_COLUMN, DataType::Utf8, false));
    columns.push(Arc::new(StringArray::from(vec!["2026-01-01"])));
    RecordBatch::try_new(Arc::new(Schema::new(fields)), columns).unwrap()
}

fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            out.extend(files_under(&path));
        } else {
            out.push(path);
        }
    }
    out
}

fn files_holding(files: &[PathBuf], needle: &[u8]) -> Vec<PathBuf> {
    files
        .iter()
        .filter(|f| {
            let bytes = std::fs::read(f).unwrap();
            bytes.windows(needle.len()).any(|w| w == needle)
        })
        .cloned()
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_rewrite_and_a_purge_leave_no_trace_of_a_dropped_column() {
    let dir = tempfile::tempdir().unwrap();
    let lake = Lake::open(dir.path().to_str().unwrap(), HashMap::new()).unwrap();
    for id in 1..=3 {
        let marker = AppTransaction {
            app_id: "capture".into(),
            version: id,
        };
        lake.append("t", vec![row(id, true)], Some(marker))
            .await
            .unwrap();
    }
    let table_dir = dir.path().join("t");
    let before = files_under(&table_dir);
    assert!(
        !files_holding(&before, b"hash-of-2").is_empty(),
        "the secret must be visible in the files before, or this test proves nothing"
    );

    let kept: Vec<RecordBatch> = lake
        .read_table("t")
        .await
        .unwrap()
        .into_iter()
        .map(|b| {
            let schema = b.schema();
            let keep = [
                schema.index_of("id").unwrap(),
                schema.index_of(PARTITION_COLUMN).unwrap(),
            ];
            b.project(&keep).unwrap()
        })
        .collect();
    let schema = kept[0].schema();
    let written = lake.overwrite_table("t", schema, kept).await.unwrap();
    assert_eq!(written.rows, 3);
    let purged = lake.purge_history("t").await.unwrap();
    assert!(purged.data_files >= 3, "{purged:?}");
    assert!(purged.log_files >= 3, "{purged:?}");

    let schema = lake.table_schema("t").await.unwrap().unwrap();
    assert!(schema.field_with_name("secret").is_err(), "{schema:?}");
    let after = files_under(&table_dir);
    for old in before
        .iter()
        .filter(|f| f.extension().is_some_and(|e| e == "parquet"))
    {
        assert!(!old.exists(), "{} survived the purge", old.display());
    }
    assert_eq!(
        files_holding(&after, b"hash-of-"),
        Vec::<PathBuf>::new(),
        "files still holding a secret"
    );
    // Writers resume where they were, and the table takes rows in its new shape.
    assert_eq!(
        lake.app_transaction_version("t", "capture").await.unwrap(),
        Some(3)
    );
    lake.append("t", vec![row(4, false)], None).await.unwrap();
    let fresh = Lake::open(dir.path().to_str().unwrap(), HashMap::new()).unwrap();
    let rows: usize = fresh
        .read_table("t")
        .await
        .unwrap()
        .iter()
        .map(RecordBatch::num_rows)
        .sum();
    assert_eq!(rows, 4);
}
