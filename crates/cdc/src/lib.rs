//! Change capture from the MySQL/MariaDB binlog: the job Maxwell does, landed exactly once.
//!
//! The reader registers as a replica ([`BinlogSource::stream`]) and turns the row events of
//! the business tables into [`RowChange`]s, decoded by the column names each table map
//! carries (so DDL in the source never derails decoding). A change has two shapes:
//! Maxwell's JSON ([`RowChange::maxwell_line`]) and the lake's change records
//! ([`lake_records`], the schema `medlake_changes::change_record_schema`).
//!
//! [`capture`] drives a [`ChangeSink`]: it bootstraps tables the sink lacks from one
//! consistent snapshot whose binlog position is handed over to the stream, then streams.
//! Positions advance in the catalog only after the sink committed everything before them,
//! and every sink commit carries its position, so a crash anywhere loses and doubles nothing.
//!
//! ```no_run
//! # async fn demo() -> Result<(), medlake_cdc::CdcError> {
//! use medlake_cdc::{capture, BinlogSource, CaptureOptions, LakeSink, NoCaptureProgress};
//! let source = BinlogSource::new("mysql://root@127.0.0.1:3307/medical")?;
//! let lake = medlake_lake::Lake::open("medlake-data/lake", Default::default())?;
//! let catalog = medlake_catalog::Catalog::open("medlake-data/catalog.db".as_ref())?;
//! let options = CaptureOptions {
//!     database: "medical".into(),
//!     tables: medlake_schema::business_tables().iter().filter(|t| t.changes).collect(),
//!     batch_rows: 20_000,
//!     flush_interval: std::time::Duration::from_millis(500),
//!     follow: false,
//!     server_id: 4242,
//!     resync: Vec::new(),
//! };
//! let mut sink = LakeSink::new(lake);
//! let figures = capture(&source, &mut sink, &catalog, &options, &NoCaptureProgress).await?;
//! println!("{} changes up to {:?}", figures.changes, figures.position);
//! # Ok(()) }
//! ```

mod capture;
mod change;
mod error;
mod filter;
mod kafka;
mod position;
mod reader;
mod sink;

pub use capture::{
    capture, CaptureFigures, CaptureOptions, CaptureProgress, NoCaptureProgress, SkippedTally,
};
pub use change::{lake_records, split_by_schema, ChangeKind, RowChange};
pub use error::CdcError;
pub use filter::Filter;
pub use kafka::{
    check_topic_template, connect, land, lander_app_id, topic_name, Client as KafkaClient,
    KafkaSink, LandFigures, LandOptions, LandProgress, NoLandProgress, DEFAULT_TOPIC,
    VERSION_HEADER,
};
pub use position::BinlogPosition;
pub use reader::{
    BinlogSource, ServerStatus, SkipReason, SkippedChange, Snapshot, Transaction,
    TransactionStream, XaId,
};
pub use sink::{ChangeSink, LakeSink, MaxwellSink, CDC_APP_ID};

/// Result of change capture.
pub type Result<T, E = CdcError> = std::result::Result<T, E>;
