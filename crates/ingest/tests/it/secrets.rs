//! Secrets never land: a day's sync leaves the password hashes out of every lake table,
//! schemas and values; a lake an older medlake wrote with them is refused until
//! `forget_secrets` has dropped them, from the rows, the old files and the log.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use chrono::NaiveDate;
use deltalake::arrow::array::{Array, ArrayRef, Int64Array, StringArray, StructArray};
use deltalake::arrow::datatypes::{DataType, Field, FieldRef, Fields, Schema};
use deltalake::arrow::record_batch::RecordBatch;
use medlake_catalog::Catalog;
use medlake_ingest::{inc_sync_table, sync_day, IncSyncOptions, NoProgress, SyncPlan};
use medlake_lake::Lake;

use crate::crash_windows::{business_db, simulate_more};
use crate::lake_secrets::{hex_words, secrets_in_lake};

fn day(n: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(2026, 4, n).unwrap()
}

/// The password hashes of the business database by table and id, read past medlake's
/// sources (which never read them).
fn source_hashes(dir: &Path) -> HashMap<(&'static str, i64), String> {
    let conn = rusqlite::Connection::open(dir.join("business.db")).unwrap();
    let mut hashes = HashMap::new();
    for (table, sql) in [
        ("user", r#"SELECT id, hashed_password FROM "user""#),
        ("doctor", r#"SELECT id, password FROM "doctor""#),
    ] {
        let mut stmt = conn.prepare(sql).unwrap();
        let rows = stmt
            .query_map([], |r| Ok((r.get::<_, i64>(0)?, r.get::<_, String>(1)?)))
            .unwrap();
        for row in rows {
            let (id, hash) = row.unwrap();
            hashes.insert((table, id), hash);
        }
    }
    assert!(hashes.len() > 10, "the business database holds no hashes");
    assert!(
        hashes
            .values()
            .all(|h| h.len() == 64 && h.bytes().all(|b| b.is_ascii_hexdigit())),
        "hashes are 64 hex digits: the scans below look for such words"
    );
    hashes
}

struct Setup {
    dir: tempfile::TempDir,
    url: String,
    lake: Lake,
    catalog: Catalog,
    hashes: HashMap<(&'static str, i64), String>,
}

impl Setup {
    async fn new() -> Setup {
        let dir = tempfile::tempdir().unwrap();
        let url = business_db(dir.path()).await;
        let hashes = source_hashes(dir.path());
        let lake = Lake::open(
            dir.path().join("lake").to_str().unwrap(),
            Default::default(),
        )
        .unwrap();
        let catalog = Catalog::open(&dir.path().join("catalog.db")).unwrap();
        Setup {
            dir,
            url,
            lake,
            catalog,
            hashes,
        }
    }

    fn hash_set(&self) -> HashSet<String> {
        self.hashes.values().cloned().collect()
    }

    async fn sync(&self, day: NaiveDate) -> medlake_ingest::Result<medlake_ingest::DaySync> {
        let source = medlake_source::open(&self.url).unwrap();
        let plan = SyncPlan::for_day(day);
        sync_day(
            source.as_ref(),
            &self.lake,
            &self.catalog,
            &plan,
            &NoProgress,
        )
        .await
    }

    fn table_dir(&self, name: &str) -> PathBuf {
        self.dir.path().join("lake").join(name)
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_synced_day_lands_no_password_hash() {
    let s = Setup::new().await;
    let synced = s.sync(day(1)).await.unwrap();
    assert!(synced.reconciliation.unwrap().all_match());
    for name in [
        "ods_user_full",
        "ods_user_inc",
        "ods_doctor_full",
        "ods_doctor_inc",
    ] {
        assert!(
            s.lake.load(name).await.unwrap().is_some(),
            "{name} not written"
        );
    }
    let hashes = s.hash_set();
    // The scan finds a hash where there is one: it cannot pass by looking at nothing.
    let sample = hashes.iter().next().unwrap();
    let cell = format!("{{id: 1, hashed_password: {sample}, email: x}}");
    assert!(hex_words(&cell).any(|w| hashes.contains(w)));
    assert_eq!(
        secrets_in_lake(&s.lake, &hashes).await,
        Vec::<String>::new()
    );
}

/// Rewrites a user table of `s`'s lake as a medlake before "secrets never land" left it:
/// the source's hash of each row as a column after `id` (`ods_user_full`), as a field of
/// `data` after its `id` and as a key of `old` (`ods_user_inc`).
async fn add_hashes(s: &Setup, name: &str) {
    let mut batches = Vec::new();
    for batch in s.lake.read_table(name).await.unwrap() {
        batches.push(with_hashes(&batch, &s.hashes));
    }
    let schema = batches[0].schema();
    s.lake.overwrite_table(name, schema, batches).await.unwrap();
}

fn with_hashes(batch: &RecordBatch, hashes: &HashMap<(&'static str, i64), String>) -> RecordBatch {
    let data = batch
        .column_by_name("data")
        .map(|c| c.as_any().downcast_ref::<StructArray>().unwrap());
    let ids = match data {
        Some(data) => data.column_by_name("id").unwrap(),
        None => batch.column_by_name("id").unwrap(),
    };
    let row_hashes: Vec<String> = ids
        .as_any()
        .downcast_ref::<Int64Array>()
        .unwrap()
        .values()
        .iter()
        .map(|id| hashes[&("user", *id)].clone())
        .collect();
    let hash_field: FieldRef = Arc::new(Field::new("hashed_password", DataType::Utf8, false));
    let hash_column: ArrayRef = Arc::new(StringArray::from(row_hashes.clone()));
    let schema = batch.schema();
    let mut fields: Vec<FieldRef> = Vec::new();
    let mut columns: Vec<ArrayRef> = Vec::new();
    for (field, column) in schema.fields().iter().zip(batch.columns()) {
        match (field.name().as_str(), data) {
            ("id", _) => {
                fields.extend([field.clone(), hash_field.clone()]);
                columns.extend([column.clone(), hash_column.clone()]);
            }
            ("data", Some(data)) => {
                let (inner, mut arrays, nulls) = data.clone().into_parts();
                let mut inner: Vec<FieldRef> = inner.iter().cloned().collect();
                inner.insert(1, hash_field.clone());
                arrays.insert(1, hash_column.clone());
                let inner = Fields::from(inner);
                let data = StructArray::try_new(inner.clone(), arrays, nulls).unwrap();
                let data_type = DataType::Struct(inner);
                fields.push(Arc::new(Field::new("data", data_type, field.is_nullable())));
                columns.push(Arc::new(data));
            }
            ("old", _) => {
                let old: Vec<String> = row_hashes
                    .iter()
                    .map(|h| format!(r#"{{"hashed_password":"{h}"}}"#))
                    .collect();
                fields.push(Arc::new(Field::new("old", DataType::Utf8, true)));
                columns.push(Arc::new(StringArray::from(old)));
            }
            _ => {
                fields.push(field.clone());
                columns.push(column.clone());
            }
        }
    }
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

fn log_files_naming(dir: &Path, needle: &str) -> Vec<PathBuf> {
    files_under(&dir.join("_delta_log"))
        .into_iter()
        .filter(|f| String::from_utf8_lossy(&std::fs::read(f).unwrap()).contains(needle))
        .collect()
}

async fn row_count(lake: &Lake, name: &str) -> usize {
    let batches = lake.read_table(name).await.unwrap();
    batches.iter().map(RecordBatch::num_rows).sum()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_lake_holding_hashes_is_refused_until_they_are_forgotten() {
    let s = Setup::new().await;
    s.sync(day(1)).await.unwrap();
    let names = ["ods_user_full", "ods_user_inc"];
    let mut rows = Vec::new();
    for name in names {
        rows.push(row_count(&s.lake, name).await);
        add_hashes(&s, name).await;
        assert!(
            !log_files_naming(&s.table_dir(name), "hashed_password").is_empty(),
            "{name}: the legacy table must name the secret in its log"
        );
    }
    let hashes = s.hash_set();
    let found = secrets_in_lake(&s.lake, &hashes).await;
    assert!(
        found
            .iter()
            .any(|f| f.contains("ods_user_inc: a hash in old")),
        "{found:?}"
    );

    // Capture refuses both tables, naming the command that mends them.
    let err = s.sync(day(1)).await.unwrap_err().to_string();
    assert!(
        err.contains("ods_user_full") && err.contains("medlake lake forget-secrets"),
        "{err}"
    );
    let source = medlake_source::open(&s.url).unwrap();
    let user = medlake_schema::table("user").unwrap();
    let err = inc_sync_table(
        source.as_ref(),
        &s.lake,
        &s.catalog,
        user,
        IncSyncOptions::default(),
        &NoProgress,
    )
    .await
    .unwrap_err()
    .to_string();
    assert!(
        err.contains("ods_user_inc") && err.contains("medlake lake forget-secrets"),
        "{err}"
    );

    let data_files: Vec<PathBuf> = names
        .iter()
        .flat_map(|n| files_under(&s.table_dir(n)))
        .filter(|f| f.extension().is_some_and(|e| e == "parquet"))
        .filter(|f| !f.to_string_lossy().contains("_delta_log"))
        .collect();
    let reports = medlake_changes::forget_secrets(&s.lake).await.unwrap();
    let dropped: Vec<(String, Vec<String>)> = reports
        .iter()
        .map(|r| (r.table.clone(), r.dropped.clone()))
        .collect();
    assert_eq!(
        dropped,
        [
            ("ods_doctor_full".to_string(), vec![]),
            ("ods_doctor_inc".to_string(), vec![]),
            (
                "ods_user_full".to_string(),
                vec!["hashed_password".to_string()]
            ),
            (
                "ods_user_inc".to_string(),
                vec![
                    "data.hashed_password".to_string(),
                    "old.hashed_password".to_string()
                ]
            ),
        ]
    );
    for (name, before) in names.iter().zip(rows) {
        assert_eq!(row_count(&s.lake, name).await, before, "{name}: rows");
        assert_eq!(
            log_files_naming(&s.table_dir(name), "hashed_password"),
            Vec::<PathBuf>::new(),
            "{name}: the log still names the secret"
        );
    }
    let survivors: Vec<&PathBuf> = data_files.iter().filter(|f| f.exists()).collect();
    assert!(
        survivors.is_empty(),
        "files of the hashes survived: {survivors:?}"
    );
    assert_eq!(
        secrets_in_lake(&s.lake, &hashes).await,
        Vec::<String>::new()
    );

    // Nothing is left to drop, and capture goes on where it was, into the new shape.
    let again = medlake_changes::forget_secrets(&s.lake).await.unwrap();
    assert!(
        again
            .iter()
            .all(|r| r.dropped.is_empty() && r.purged == medlake_lake::PurgeStats::default()),
        "{again:?}"
    );
    simulate_more(&s.url, 1).await;
    let synced = s.sync(day(2)).await.unwrap();
    assert!(synced.reconciliation.unwrap().all_match());
    let user_changes = synced
        .reports
        .iter()
        .find(|r| r.lake_table == "ods_user_inc")
        .map_or(0, |r| r.rows);
    assert!(
        user_changes > 0,
        "day 2 changed no user: the append went untested"
    );
    let hashes: HashSet<String> = source_hashes(s.dir.path()).into_values().collect();
    assert_eq!(
        secrets_in_lake(&s.lake, &hashes).await,
        Vec::<String>::new()
    );
}
