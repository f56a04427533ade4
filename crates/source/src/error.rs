use thiserror::Error;

/// What can go wrong reading a business database. Messages name tables and columns,
/// never values: values may be protected health information.
#[derive(Debug, Error)]
pub enum SourceError {
    /// The URL cannot name a source.
    #[error("bad database URL: {0}")]
    BadUrl(String),
    /// The database cannot be reached or opened.
    #[error("cannot open business database {url}: {reason}")]
    Connect {
        /// Address, password removed.
        url: String,
        /// Why.
        reason: String,
    },
    /// A query failed.
    #[error("reading table {table} failed: {reason}")]
    Query {
        /// Business table.
        table: String,
        /// Why (the database's message).
        reason: String,
    },
    /// A stored value does not fit the declared column type.
    #[error("table {table}, column {column}: stored value does not match type {expected}")]
    BadValue {
        /// Business table.
        table: String,
        /// Column.
        column: String,
        /// Declared type.
        expected: String,
    },
    /// Building Arrow data failed (a bug if it happens).
    #[error("arrow: {0}")]
    Arrow(#[from] deltalake::arrow::error::ArrowError),
}
