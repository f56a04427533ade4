//! The lake: Delta tables under one root, local folder by default or any object store URL.
//!
//! This crate is the one place that opens the lake. It knows nothing about business
//! tables or models: it writes Arrow batches into named Delta tables partitioned by a
//! business day `dt`, reports what the lake holds, and hands tables to DataFusion.
//! Every write is one Delta commit, so a reader never sees half a partition. A table can
//! also be rewritten whole with a narrower schema and its history purged (`rewrite.rs`),
//! for columns that must not stay in the lake. `history.rs` reads a table's versions from
//! its log (operation, time, rows added, columns gained or lost) for the catalog.
//!
//! ```no_run
//! # async fn demo(batch: deltalake::arrow::record_batch::RecordBatch) -> Result<(), medlake_lake::LakeError> {
//! let lake = medlake_lake::Lake::open("medlake-data/lake", Default::default())?;
//! let day = chrono::NaiveDate::from_ymd_opt(2026, 1, 1).unwrap();
//! lake.replace_partition("ods_hospital_full", day, batch.schema(), vec![batch]).await?;
//! for t in lake.summary().await? {
//!     println!("{}: {} rows", t.name, t.rows());
//! }
//! # Ok(()) }
//! ```

mod error;
mod history;
mod rewrite;
mod summary;

use std::collections::HashMap;
use std::sync::{Arc, Mutex, Once};

use chrono::NaiveDate;
use deltalake::arrow::datatypes::SchemaRef;
use deltalake::arrow::record_batch::RecordBatch;
use deltalake::datafusion::prelude::{col, lit, SessionContext};
use deltalake::delta_datafusion::{DeltaScanConfig, DeltaScanNext};
use deltalake::kernel::transaction::CommitProperties;
use deltalake::kernel::Transaction;
use deltalake::operations::write::SchemaMode;
use deltalake::protocol::SaveMode;
use deltalake::{DeltaTable, DeltaTableBuilder};
use url::Url;

pub use error::{is_transient, BoxError, LakeError};
pub use history::{SchemaChange, VersionInfo};
pub use rewrite::PurgeStats;
pub use summary::{PartitionSummary, TableSummary};

/// Result of lake operations.
pub type Result<T, E = LakeError> = std::result::Result<T, E>;

/// The name of the business-day partition column of every partitioned lake table.
pub const PARTITION_COLUMN: &str = "dt";

/// What one commit wrote.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CommitStats {
    /// Rows written.
    pub rows: u64,
    /// Delta table version after the commit.
    pub version: u64,
}

/// An application's idempotence marker carried inside a Delta commit (the `txn` action):
/// a writer that finds its version already in the table knows the commit happened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppTransaction {
    /// Which writer (e.g. `medlake-inc-sync`).
    pub app_id: String,
    /// The writer's batch sequence number.
    pub version: i64,
}

/// A lake root and the storage options to reach it.
///
/// Clones share the tables opened so far: opening a table again reads only the commits
/// made since (a listing of its log when there are none), not its last checkpoint and
/// every commit after it. A day's build opens each table a dozen times, and on day 30 a
/// full open costs several times what it did on day 1.
#[derive(Debug, Clone)]
pub struct Lake {
    root: Url,
    options: HashMap<String, String>,
    opened: Arc<Mutex<HashMap<String, DeltaTable>>>,
}

fn register_object_stores() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| deltalake::aws::register_handlers(None));
}

impl Lake {
    /// Opens the lake at `location`: a folder path (created if missing) or a URL such as
    /// `s3://bucket/prefix` with `options` (e.g. `AWS_ENDPOINT_URL`, `AWS_REGION`).
    pub fn open(location: &str, options: HashMap<String, String>) -> Result<Lake> {
        register_object_stores();
        let root = if location.contains("://") {
            let mut url = Url::parse(location)
                .map_err(|e| LakeError::BadLocation(format!("{location}: {e}")))?;
            if url.scheme() == "file" {
                std::fs::create_dir_all(url.path())
                    .map_err(|e| LakeError::BadLocation(format!("{location}: {e}")))?;
            }
            if !url.path().ends_with('/') {
                url.set_path(&format!("{}/", url.path()));
            }
            url
        } else {
            std::fs::create_dir_all(location)
                .map_err(|e| LakeError::BadLocation(format!("{location}: {e}")))?;
            let abs = std::fs::canonicalize(location)
                .map_err(|e| LakeError::BadLocation(format!("{location}: {e}")))?;
            Url::from_directory_path(&abs).map_err(|()| {
                LakeError::BadLocation(format!("{location}: not an absolute folder"))
            })?
        };
        Ok(Lake {
            root,
            options,
            opened: Arc::default(),
        })
    }

    /// The root URL of the lake.
    pub fn root(&self) -> &Url {
        &self.root
    }

    /// The URL of table `name`.
    pub fn table_url(&self, name: &str) -> Result<Url> {
        self.root
            .join(&format!("{name}/"))
            .map_err(|e| LakeError::BadLocation(format!("{name}: {e}")))
    }

    /// Table `name` at its latest version: the one opened before brought up to date, or
    /// opened now (a table never written has no version).
    async fn handle(&self, name: &str) -> Result<DeltaTable> {
        let opened = self.opened.lock().ok().and_then(|t| t.get(name).cloned());
        if let Some(mut table) = opened {
            if table.update_state().await.is_ok() {
                self.remember(name, &table);
                return Ok(table);
            }
            // Gone or unreadable since: open it afresh, which says what is wrong.
            if let Ok(mut opened) = self.opened.lock() {
                opened.remove(name);
            }
        }
        let url = self.table_url(name)?;
        if url.scheme() == "file" {
            if let Ok(path) = url.to_file_path() {
                std::fs::create_dir_all(&path).map_err(|e| LakeError::delta(name, e))?;
            }
        }
        let table = DeltaTable::try_from_url_with_storage_options(url, self.options.clone())
            .await
            .map_err(|e| LakeError::delta(name, e))?;
        self.remember(name, &table);
        Ok(table)
    }

    /// Keeps `table` for the next open of `name`, unless a newer version is kept already.
    fn remember(&self, name: &str, table: &DeltaTable) {
        let Some(version) = table.version() else {
            return;
        };
        if let Ok(mut opened) = self.opened.lock() {
            if opened
                .get(name)
                .and_then(DeltaTable::version)
                .is_none_or(|kept| kept < version)
            {
                opened.insert(name.to_string(), table.clone());
            }
        }
    }

    /// Table `name` at its latest version, `None` if it was never written.
    pub async fn load(&self, name: &str) -> Result<Option<DeltaTable>> {
        let table = self.handle(name).await?;
        Ok(table.version().is_some().then_some(table))
    }

    /// When table `name`'s latest commit was made (milliseconds since the epoch, from its
    /// commit info), for the figures that tell how long ago a table last changed. `None`
    /// when the table was never written or its commit carries no time.
    pub async fn last_commit_millis(&self, name: &str) -> Result<Option<i64>> {
        use futures::StreamExt;
        let Some(table) = self.load(name).await? else {
            return Ok(None);
        };
        let newest = table.history(Some(1)).next().await;
        match newest {
            Some(Ok(info)) => Ok(info.timestamp),
            Some(Err(e)) => Err(LakeError::delta(name, e)),
            None => Ok(None),
        }
    }

    /// Replaces partition `dt` of table `name` with `batches` in one commit, creating the
    /// table (partitioned by `dt`) on first write. Re-running with the same rows gives the
    /// same partition. The schemas merge: a column the rows gain is added to the table, one
    /// they lose is left empty in this partition (older partitions keep theirs), and a
    /// changed column type is an error.
    pub async fn replace_partition(
        &self,
        name: &str,
        dt: NaiveDate,
        schema: SchemaRef,
        batches: Vec<RecordBatch>,
    ) -> Result<CommitStats> {
        let dt = dt.to_string();
        let rows = count_rows(&batches);
        let batches = with_partition_column(schema, batches, &dt)?;
        let table = self.handle(name).await?;
        let exists = table.version().is_some();
        let mut write = table
            .write(batches)
            .with_partition_columns([PARTITION_COLUMN])
            .with_save_mode(if exists {
                SaveMode::Overwrite
            } else {
                SaveMode::Append
            });
        if exists {
            write = write
                .with_replace_where(col(PARTITION_COLUMN).eq(lit(dt.to_string())))
                .with_schema_mode(SchemaMode::Merge);
        } else {
            write = write.with_configuration(new_table_configuration());
        }
        let table = write
            .with_commit_properties(without_checkpoint(CommitProperties::default()))
            .await
            .map_err(|e| LakeError::delta(name, e))?;
        self.committed(name, &table, rows).await
    }

    /// What every write does after its commit: a checkpoint when due, the new version
    /// remembered for readers, and the figures of the commit.
    async fn committed(&self, name: &str, table: &DeltaTable, rows: u64) -> Result<CommitStats> {
        self.checkpoint_if_due(name, table).await?;
        self.remember(name, table);
        Ok(CommitStats {
            rows,
            version: table.version().unwrap_or_default(),
        })
    }

    /// Writes a checkpoint of `table` when its new version is due one (see [`checkpoint_due`]).
    async fn checkpoint_if_due(&self, name: &str, table: &DeltaTable) -> Result<()> {
        match table.version() {
            Some(version) if checkpoint_due(name, version) => {
                deltalake::checkpoints::create_checkpoint(table, None)
                    .await
                    .map_err(|e| LakeError::delta(name, e))
            }
            _ => Ok(()),
        }
    }

    /// Appends `batches` (which already carry a `dt` column) to table `name` in one commit,
    /// with an optional [`AppTransaction`] marker committed atomically with the data.
    pub async fn append(
        &self,
        name: &str,
        batches: Vec<RecordBatch>,
        marker: Option<AppTransaction>,
    ) -> Result<CommitStats> {
        let rows = count_rows(&batches);
        let table = self.handle(name).await?;
        let exists = table.version().is_some();
        let mut props = CommitProperties::default();
        if let Some(m) = marker {
            props = props.with_application_transaction(Transaction::new(m.app_id, m.version));
        }
        let mut write = table
            .write(batches)
            .with_partition_columns([PARTITION_COLUMN])
            .with_save_mode(SaveMode::Append)
            .with_commit_properties(without_checkpoint(props));
        if !exists {
            write = write.with_configuration(new_table_configuration());
        }
        let table = write.await.map_err(|e| LakeError::delta(name, e))?;
        self.committed(name, &table, rows).await
    }

    /// The last version committed by `app_id` into table `name`, `None` if it never wrote there.
    pub async fn app_transaction_version(&self, name: &str, app_id: &str) -> Result<Option<i64>> {
        let Some(table) = self.load(name).await? else {
            return Ok(None);
        };
        let state = table.snapshot().map_err(|e| LakeError::delta(name, e))?;
        state
            .transaction_version(table.log_store().as_ref(), app_id)
            .await
            .map_err(|e| LakeError::delta(name, e))
    }

    /// A DataFusion session with every lake table registered under its own name.
    pub async fn session(&self) -> Result<SessionContext> {
        let ctx = SessionContext::new();
        for name in self.table_names().await? {
            self.register(&ctx, &name).await?;
        }
        Ok(ctx)
    }

    /// Registers table `name` in `ctx` (a no-op for a table never written).
    pub async fn register(&self, ctx: &SessionContext, name: &str) -> Result<()> {
        self.register_and_summarize(ctx, name).await.map(|_| ())
    }

    /// Registers table `name` in `ctx` and returns what it holds, from the same version
    /// (`None` for a table never written). A server uses this to refresh its tables and
    /// their listing in one read of each Delta log.
    pub async fn register_and_summarize(
        &self,
        ctx: &SessionContext,
        name: &str,
    ) -> Result<Option<TableSummary>> {
        self.register_under(ctx, name, name).await
    }

    /// Registers table `name` in `ctx` under another name, `alias` (a no-op for a table
    /// never written): for a session that shows a view of the table under its own name.
    pub async fn register_as(&self, ctx: &SessionContext, name: &str, alias: &str) -> Result<()> {
        self.register_under(ctx, name, alias).await.map(|_| ())
    }

    async fn register_under(
        &self,
        ctx: &SessionContext,
        name: &str,
        alias: &str,
    ) -> Result<Option<TableSummary>> {
        let Some(table) = self.load(name).await? else {
            return Ok(None);
        };
        let summary = TableSummary::of(name, &table)?;
        let state = ctx.state();
        table
            .update_datafusion_session(&state)
            .map_err(|e| LakeError::delta(name, e))?;
        let snapshot = table
            .snapshot()
            .map_err(|e| LakeError::delta(name, e))?
            .snapshot()
            .clone();
        // Delta's default wraps partition values in a dictionary, which costs a hash lookup
        // per row read (a quarter of a dimension snapshot's build); `dt` is one short
        // string per partition, read as a plain string column instead.
        let config = DeltaScanConfig::new_from_session(&state).with_wrap_partition_values(false);
        let provider = DeltaScanNext::new(Arc::new(snapshot), config).map_err(LakeError::query)?;
        // A table registered before (a server refreshing) is replaced by the new version.
        ctx.deregister_table(alias).map_err(LakeError::query)?;
        ctx.register_table(alias, Arc::new(provider))
            .map_err(LakeError::query)?;
        Ok(Some(summary))
    }

    /// Names of the Delta tables directly under the root, sorted.
    pub async fn table_names(&self) -> Result<Vec<String>> {
        let store = DeltaTableBuilder::from_url(self.root.clone())
            .map_err(|e| LakeError::delta("(root)", e))?
            .with_storage_options(self.options.clone())
            .build_storage()
            .map_err(|e| LakeError::delta("(root)", e))?
            .object_store(None);
        let listing = store
            .list_with_delimiter(None)
            .await
            .map_err(LakeError::storage)?;
        let mut names = Vec::new();
        for prefix in listing.common_prefixes {
            let Some(name) = prefix.filename().map(str::to_string) else {
                continue;
            };
            let log = prefix.clone().join("_delta_log");
            let has_log = store
                .list_with_delimiter(Some(&log))
                .await
                .map(|l| !l.objects.is_empty())
                .unwrap_or(false);
            if has_log {
                names.push(name);
            }
        }
        names.sort();
        Ok(names)
    }

    /// What the lake holds: every table with its partitions, rows and bytes.
    pub async fn summary(&self) -> Result<Vec<TableSummary>> {
        let mut out = Vec::new();
        for name in self.table_names().await? {
            if let Some(table) = self.load(&name).await? {
                out.push(TableSummary::of(&name, &table)?);
            }
        }
        Ok(out)
    }
}

/// Commits between two checkpoints of a table medlake creates. Delta's default (100) makes
/// every reader replay up to 100 JSON commits; a table written once a day per partition
/// would cost more to open on day 30 than on day 1. With 10, opening a table reads one
/// checkpoint and at most nine commits. Recorded as the table's `delta.checkpointInterval`
/// for other writers; medlake's own commits checkpoint by [`checkpoint_due`].
pub const CHECKPOINT_INTERVAL: u32 = 10;

/// Whether committing `version` of table `name` should write a checkpoint: every
/// [`CHECKPOINT_INTERVAL`] versions, at an offset taken from the name. Delta's own rule
/// (when `version + 1` is a multiple of the interval) makes every table written once a day
/// checkpoint on the same day, every tenth day; staggered, a day's build writes a tenth of
/// its tables' checkpoints, every day, and a reader still replays at most
/// `CHECKPOINT_INTERVAL - 1` commits after the last checkpoint.
pub fn checkpoint_due(name: &str, version: u64) -> bool {
    // FNV-1a: stable across builds and platforms, unlike the standard library's hasher.
    let hash = name.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
    });
    let interval = u64::from(CHECKPOINT_INTERVAL);
    version > 0 && (version + hash % interval).is_multiple_of(interval)
}

/// `props` with Delta's post-commit checkpoint turned off: [`checkpoint_due`] decides.
fn without_checkpoint(props: CommitProperties) -> CommitProperties {
    props.with_create_checkpoint(false)
}

/// Table properties of a table medlake creates.
fn new_table_configuration() -> Vec<(String, Option<String>)> {
    vec![(
        "delta.checkpointInterval".to_string(),
        Some(CHECKPOINT_INTERVAL.to_string()),
    )]
}

fn count_rows(batches: &[RecordBatch]) -> u64 {
    batches.iter().map(|b| b.num_rows() as u64).sum()
}

/// Appends a constant `dt` column to every batch.
fn with_partition_column(
    schema: SchemaRef,
    batches: Vec<RecordBatch>,
    dt: &str,
) -> Result<Vec<RecordBatch>> {
    use deltalake::arrow::array::StringArray;
    use deltalake::arrow::datatypes::{DataType, Field, Schema};
    let mut fields: Vec<Field> = schema.fields().iter().map(|f| f.as_ref().clone()).collect();
    fields.push(Field::new(PARTITION_COLUMN, DataType::Utf8, false));
    let out_schema = Arc::new(Schema::new(fields));
    if batches.is_empty() {
        return Ok(vec![RecordBatch::new_empty(out_schema)]);
    }
    batches
        .into_iter()
        .map(|b| {
            let mut columns = b.columns().to_vec();
            columns.push(Arc::new(StringArray::from(vec![dt; b.num_rows()])));
            RecordBatch::try_new(out_schema.clone(), columns).map_err(LakeError::query)
        })
        .collect()
}

#[cfg(test)]
mod tests;
