//! The imaging crate's errors. No message carries a header value or a patient's identity;
//! paths appear only where the operator named them (the folder, a config file).

/// Why an imaging operation failed.
#[derive(Debug, thiserror::Error)]
pub enum ImagingError {
    /// The configuration or a source address is not usable.
    #[error("{0}")]
    Config(String),
    /// A source (folder, PACS) could not be read.
    #[error("{0}")]
    Source(String),
    /// The lake refused a read or a commit.
    #[error("lake: {0}")]
    Lake(String),
    /// The catalog refused a read or a write.
    #[error("catalog: {0}")]
    Catalog(#[from] medlake_catalog::CatalogError),
    /// Another ingest holds the lake's ingest lease.
    #[error("another imaging ingest is running against this catalog (held by {0})")]
    Busy(String),
    /// A preview could not be made.
    #[error("{0}")]
    Preview(String),
    /// A test stopped the run at a crash point.
    #[error("stopped {0} (crash test)")]
    Crash(&'static str),
}
