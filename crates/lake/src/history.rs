//! A table's history from its Delta log: each version's operation, time and rows added,
//! and the columns a version added to or dropped from the table's schema. Read from the
//! commit files only (one small JSON file per version); no data file is opened.

use std::collections::BTreeSet;

use futures::{StreamExt, TryStreamExt};
use serde_json::Value;

use crate::{Lake, LakeError, Result};

/// Commit files read at once.
const CONCURRENT_READS: usize = 8;

/// One version of a table, as its commit records it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct VersionInfo {
    /// The Delta version.
    pub version: u64,
    /// When it was committed (milliseconds since the Unix epoch), if the commit says.
    pub timestamp_ms: Option<i64>,
    /// The operation (`WRITE`, `CREATE TABLE`, `OPTIMIZE`, ...), if the commit says.
    pub operation: Option<String>,
    /// Rows the commit added: its operation metrics, else the added files' statistics.
    pub rows_added: Option<u64>,
    /// The columns this version added or dropped, when it changed the schema of the
    /// version before it (`None` for the version that created the table, one whose earlier
    /// schema is no longer in the log, or one that kept the columns).
    pub schema_change: Option<SchemaChange>,
}

/// How a version changed a table's top-level columns.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SchemaChange {
    /// Columns the version added, in the new schema's order.
    pub added: Vec<String>,
    /// Columns the version dropped, in the old schema's order.
    pub removed: Vec<String>,
}

/// What one commit file says.
#[derive(Debug, Default)]
struct Commit {
    timestamp_ms: Option<i64>,
    operation: Option<String>,
    metric_rows: Option<u64>,
    stats_rows: Option<u64>,
    /// The top-level columns of its `metaData` action, if it has one.
    columns: Option<Vec<String>>,
}

impl Lake {
    /// The last `limit` versions of table `name`, newest first (empty for a table never
    /// written). Versions whose commit file is gone (a purged history) are left out.
    pub async fn history(&self, name: &str, limit: usize) -> Result<Vec<VersionInfo>> {
        let Some(table) = self.load(name).await? else {
            return Ok(Vec::new());
        };
        let latest = table.version().unwrap_or_default();
        let oldest = latest.saturating_sub(limit.max(1) as u64 - 1);
        let store = table.log_store();
        let store = &store;
        let commits: Vec<(u64, Option<Commit>)> = futures::stream::iter(oldest..=latest)
            .map(|version| async move {
                let bytes = store
                    .read_commit_entry(version)
                    .await
                    .map_err(|e| LakeError::delta(name, e))?;
                let commit = bytes.map(|b| parse_commit(name, &b)).transpose()?;
                Ok::<_, LakeError>((version, commit))
            })
            .buffered(CONCURRENT_READS)
            .try_collect()
            .await?;
        let mut previous = if oldest == 0 {
            None
        } else {
            self.columns_at(name, oldest - 1).await
        };
        let mut out = Vec::with_capacity(commits.len());
        for (version, commit) in commits {
            let Some(commit) = commit else {
                continue;
            };
            let mut schema_change = None;
            if let Some(columns) = commit.columns {
                if let Some(before) = &previous {
                    schema_change = diff(before, &columns);
                }
                previous = Some(columns);
            }
            out.push(VersionInfo {
                version,
                timestamp_ms: commit.timestamp_ms,
                operation: commit.operation,
                rows_added: commit.metric_rows.or(commit.stats_rows),
                schema_change,
            });
        }
        out.reverse();
        Ok(out)
    }

    /// The top-level columns of table `name` at `version`, `None` when that version can no
    /// longer be read (its log was purged).
    async fn columns_at(&self, name: &str, version: u64) -> Option<Vec<String>> {
        let mut table = self.load(name).await.ok()??;
        table.load_version(version).await.ok()?;
        let schema = table.snapshot().ok()?.schema();
        Some(schema.field_names().cloned().collect())
    }
}

/// Reads the actions of one commit file (one JSON object per line).
fn parse_commit(name: &str, bytes: &[u8]) -> Result<Commit> {
    let mut commit = Commit::default();
    for line in bytes.split(|b| *b == b'\n') {
        if line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        let action: Value = serde_json::from_slice(line).map_err(|e| LakeError::delta(name, e))?;
        if let Some(info) = action.get("commitInfo") {
            commit.timestamp_ms = info
                .get("timestamp")
                .or_else(|| info.get("inCommitTimestamp"))
                .and_then(Value::as_i64);
            commit.operation = info
                .get("operation")
                .and_then(Value::as_str)
                .map(str::to_string);
            commit.metric_rows = info.get("operationMetrics").and_then(added_rows_metric);
        } else if let Some(add) = action.get("add") {
            let rows = add
                .get("stats")
                .and_then(Value::as_str)
                .and_then(|s| serde_json::from_str::<Value>(s).ok())
                .and_then(|s| s.get("numRecords").and_then(number));
            if let Some(rows) = rows {
                commit.stats_rows = Some(commit.stats_rows.unwrap_or(0) + rows);
            }
        } else if let Some(meta) = action.get("metaData") {
            let schema = meta
                .get("schemaString")
                .and_then(Value::as_str)
                .and_then(|s| serde_json::from_str::<Value>(s).ok());
            if let Some(fields) = schema
                .as_ref()
                .and_then(|s| s.get("fields")?.as_array().cloned())
            {
                let names = fields
                    .iter()
                    .filter_map(|f| f.get("name").and_then(Value::as_str))
                    .map(str::to_string)
                    .collect();
                commit.columns = Some(names);
            }
        }
    }
    Ok(commit)
}

/// Rows added by the operation metrics of delta-rs (`num_added_rows`) or Spark
/// (`numOutputRows`, `numAddedRows`), written as numbers or as text.
fn added_rows_metric(metrics: &Value) -> Option<u64> {
    ["num_added_rows", "numOutputRows", "numAddedRows"]
        .iter()
        .find_map(|key| metrics.get(*key).and_then(number))
}

/// A count written as a JSON number or as text.
fn number(v: &Value) -> Option<u64> {
    v.as_u64().or_else(|| v.as_str()?.parse().ok())
}

/// The columns added and dropped from `before` to `after`, `None` when they are the same.
fn diff(before: &[String], after: &[String]) -> Option<SchemaChange> {
    let old: BTreeSet<&String> = before.iter().collect();
    let new: BTreeSet<&String> = after.iter().collect();
    let added: Vec<String> = after.iter().filter(|c| !old.contains(c)).cloned().collect();
    let removed: Vec<String> = before
        .iter()
        .filter(|c| !new.contains(c))
        .cloned()
        .collect();
    (!added.is_empty() || !removed.is_empty()).then_some(SchemaChange { added, removed })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_commit_gives_its_time_operation_rows_and_columns() {
        let text = concat!(
            r#"{"commitInfo":{"timestamp":1700000000000,"operation":"WRITE","operationMetrics":{"num_added_rows":7}}}"#,
            "\n",
            r#"{"metaData":{"id":"x","schemaString":"{\"type\":\"struct\",\"fields\":[{\"name\":\"a\",\"type\":\"long\",\"nullable\":true,\"metadata\":{}},{\"name\":\"dt\",\"type\":\"string\",\"nullable\":true,\"metadata\":{}}]}"}}"#,
            "\n",
            r#"{"add":{"path":"p","stats":"{\"numRecords\":5}"}}"#,
            "\n"
        );
        let c = parse_commit("t", text.as_bytes()).unwrap();
        assert_eq!(c.timestamp_ms, Some(1_700_000_000_000));
        assert_eq!(c.operation.as_deref(), Some("WRITE"));
        assert_eq!(c.metric_rows, Some(7));
        assert_eq!(c.stats_rows, Some(5));
        assert_eq!(c.columns, Some(vec!["a".to_string(), "dt".to_string()]));
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn history_lists_versions_newest_first_with_the_columns_a_version_added() {
        use std::sync::Arc;

        use deltalake::arrow::array::{Int64Array, StringArray};
        use deltalake::arrow::datatypes::{DataType, Field, Schema};
        use deltalake::arrow::record_batch::RecordBatch;

        let dir = tempfile::tempdir().unwrap();
        let lake = Lake::open(dir.path().to_str().unwrap(), Default::default()).unwrap();
        let day = |d| chrono::NaiveDate::from_ymd_opt(2026, 1, d).unwrap();
        let id = Field::new("id", DataType::Int64, false);
        let one = Arc::new(Schema::new(vec![id.clone()]));
        let ids = Arc::new(Int64Array::from(vec![1, 2]));
        let batch = RecordBatch::try_new(one.clone(), vec![ids]).unwrap();
        lake.replace_partition("t", day(1), one, vec![batch])
            .await
            .unwrap();
        let two = Arc::new(Schema::new(vec![
            id,
            Field::new("name", DataType::Utf8, true),
        ]));
        let columns: Vec<deltalake::arrow::array::ArrayRef> = vec![
            Arc::new(Int64Array::from(vec![3])),
            Arc::new(StringArray::from(vec![Some("x")])),
        ];
        let batch = RecordBatch::try_new(two.clone(), columns).unwrap();
        lake.replace_partition("t", day(2), two, vec![batch])
            .await
            .unwrap();

        let history = lake.history("t", 10).await.unwrap();
        let versions: Vec<u64> = history.iter().map(|v| v.version).collect();
        assert_eq!(versions, [1, 0]);
        assert_eq!(history[1].rows_added, Some(2));
        assert_eq!(history[0].rows_added, Some(1));
        assert!(history[0].timestamp_ms.is_some());
        assert!(history[0].operation.is_some());
        let change = history[0]
            .schema_change
            .as_ref()
            .expect("version 1 added a column");
        assert_eq!(change.added, ["name"]);
        assert!(change.removed.is_empty());
        assert_eq!(
            history[1].schema_change, None,
            "the table's creation is no change"
        );
        // With a window of one version, the schema before it is read from the table.
        let last = lake.history("t", 1).await.unwrap();
        assert_eq!(last.len(), 1);
        assert_eq!(last[0].schema_change, history[0].schema_change);
        assert!(lake.history("never_written", 5).await.unwrap().is_empty());
    }

    #[test]
    fn the_diff_names_added_and_dropped_columns() {
        let s = |v: &[&str]| v.iter().map(|c| c.to_string()).collect::<Vec<_>>();
        assert_eq!(diff(&s(&["a", "b"]), &s(&["a", "b"])), None);
        let change = diff(&s(&["a", "b"]), &s(&["a", "c"])).unwrap();
        assert_eq!(change.added, ["c"]);
        assert_eq!(change.removed, ["b"]);
    }
}
