//! Where captured changes go: a [`ChangeSink`]. The lake (direct, exactly once), a stream
//! of Maxwell JSON lines, and Kafka ([`KafkaSink`](crate::KafkaSink), exactly once).

use std::collections::HashMap;
use std::io::Write;

use async_trait::async_trait;
use medlake_lake::{AppTransaction, Lake};
use medlake_schema::Table;

use crate::change::{bootstrap_marker, is_bootstrap, lake_records, RowChange};
use crate::{CdcError, Result};

/// The writer id of binlog capture's `txn` markers in the lake.
pub const CDC_APP_ID: &str = "medlake-cdc";

/// A destination of change records. Capture calls [`write_table`](Self::write_table) with
/// all changes of one table up to a binlog position, and asks
/// [`table_version`](Self::table_version) on start which changes a table already has.
#[async_trait]
pub trait ChangeSink: Send {
    /// A short name (`lake`, `maxwell-json`), part of the key of the position in the catalog.
    fn name(&self) -> &str;

    /// Whether the sink keeps its own markers ([`table_version`](Self::table_version)).
    /// A sink without them resumes every table from the catalog's position.
    fn keeps_markers(&self) -> bool {
        true
    }

    /// The binlog position (as [`BinlogPosition::version`](crate::BinlogPosition::version))
    /// up to which the sink holds `table`'s changes; `None` when it never received the
    /// table, which then is bootstrapped.
    async fn table_version(&mut self, table: &'static Table) -> Result<Option<i64>>;

    /// Writes `changes` (all of `table`) as one atomic unit marked with `version`: after a
    /// crash, [`table_version`](Self::table_version) tells whether it landed. An empty list
    /// (a bootstrap of an empty table) may write nothing: the table is bootstrapped again
    /// on the next start, which is as correct and as cheap.
    async fn write_table(
        &mut self,
        table: &'static Table,
        changes: &[&RowChange],
        version: i64,
    ) -> Result<()>;
}

/// The lake, directly: one Delta commit per table and flush, carrying
/// `txn(medlake-cdc, version)`, so a table's version is read back from the lake itself.
pub struct LakeSink {
    lake: Lake,
    versions: HashMap<&'static str, Option<i64>>,
}

impl LakeSink {
    /// A sink writing into `ods_<table>_inc` of `lake`.
    pub fn new(lake: Lake) -> LakeSink {
        LakeSink {
            lake,
            versions: HashMap::new(),
        }
    }
}

#[async_trait]
impl ChangeSink for LakeSink {
    fn name(&self) -> &str {
        "lake"
    }

    async fn table_version(&mut self, table: &'static Table) -> Result<Option<i64>> {
        if let Some(v) = self.versions.get(table.name) {
            return Ok(*v);
        }
        // Asked once per table before anything is written: a table still holding a
        // secret an older medlake landed is refused here.
        medlake_changes::refuse_landed_secrets(&self.lake, table, &table.ods_inc_name()).await?;
        let v = self
            .lake
            .app_transaction_version(&table.ods_inc_name(), CDC_APP_ID)
            .await?;
        self.versions.insert(table.name, v);
        Ok(v)
    }

    async fn write_table(
        &mut self,
        table: &'static Table,
        changes: &[&RowChange],
        version: i64,
    ) -> Result<()> {
        if changes.is_empty() {
            return Ok(());
        }
        let batch = lake_records(table, changes)?;
        let marker = AppTransaction {
            app_id: CDC_APP_ID.into(),
            version,
        };
        self.lake
            .append(&table.ods_inc_name(), vec![batch], Some(marker))
            .await?;
        self.versions.insert(table.name, Some(version));
        Ok(())
    }
}

/// Maxwell's JSON, one change per line, to any writer (stdout by default). It keeps no
/// markers of its own: it resumes from the catalog's position, so delivery is at least
/// once (the lines of a flush cut short by a crash are written again).
pub struct MaxwellSink<W: Write + Send> {
    out: W,
}

impl<W: Write + Send> MaxwellSink<W> {
    /// Writes to `out`.
    pub fn new(out: W) -> Self {
        MaxwellSink { out }
    }

    fn line(&mut self, line: &str) -> Result<()> {
        writeln!(self.out, "{line}").map_err(|e| CdcError::Output(e.to_string()))
    }
}

#[async_trait]
impl<W: Write + Send> ChangeSink for MaxwellSink<W> {
    fn name(&self) -> &str {
        "maxwell-json"
    }

    fn keeps_markers(&self) -> bool {
        false
    }

    async fn table_version(&mut self, _table: &'static Table) -> Result<Option<i64>> {
        Ok(None)
    }

    async fn write_table(
        &mut self,
        table: &'static Table,
        changes: &[&RowChange],
        _version: i64,
    ) -> Result<()> {
        let bootstrap = is_bootstrap(changes);
        let (ts, database) = changes
            .first()
            .map_or((0, String::new()), |c| (c.ts, c.database.clone()));
        if bootstrap {
            self.line(&bootstrap_marker("bootstrap-start", &database, table.name, ts).to_string())?;
        }
        for change in changes {
            self.line(&change.maxwell_line())?;
        }
        if bootstrap {
            self.line(
                &bootstrap_marker("bootstrap-complete", &database, table.name, ts).to_string(),
            )?;
        }
        self.out
            .flush()
            .map_err(|e| CdcError::Output(e.to_string()))
    }
}
