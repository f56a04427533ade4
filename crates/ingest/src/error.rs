use thiserror::Error;

/// What can go wrong moving data into the lake.
#[derive(Debug, Error)]
pub enum IngestError {
    /// Reading the business database failed.
    #[error(transparent)]
    Source(#[from] medlake_source::SourceError),
    /// Writing or reading the lake failed.
    #[error(transparent)]
    Lake(#[from] medlake_lake::LakeError),
    /// Reading or writing the catalog failed.
    #[error(transparent)]
    Catalog(#[from] medlake_catalog::CatalogError),
    /// The sync asked for is not possible (an unknown table).
    #[error("{0}")]
    Plan(String),
    /// The lake and the catalog disagree in a way that resuming cannot mend.
    #[error("{0}")]
    Inconsistent(String),
    /// Change records could not be assembled (a bug if it happens).
    #[error(transparent)]
    ChangeRecords(#[from] medlake_changes::ChangeRecordError),
    /// The lake table still holds a secret column an older medlake landed (or checking it
    /// failed).
    #[error(transparent)]
    Secrets(#[from] medlake_changes::SecretsError),
    /// Building Arrow data failed (a bug if it happens).
    #[error("arrow: {0}")]
    Arrow(#[from] deltalake::arrow::error::ArrowError),
    /// A query over the lake failed.
    #[error("lake query: {0}")]
    Query(#[from] deltalake::datafusion::error::DataFusionError),
}
