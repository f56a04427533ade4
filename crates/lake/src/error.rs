use thiserror::Error;

/// What can go wrong in the lake.
#[derive(Debug, Error)]
pub enum LakeError {
    /// The lake location cannot be used.
    #[error("bad lake location {0}")]
    BadLocation(String),
    /// A Delta operation on a table failed.
    #[error("lake table {table}: {reason}")]
    Delta {
        /// Table name.
        table: String,
        /// Why.
        reason: String,
    },
    /// Listing or reading storage failed.
    #[error("lake storage: {0}")]
    Storage(String),
    /// Planning or running a query failed.
    #[error("lake query: {0}")]
    Query(String),
}

impl LakeError {
    pub(crate) fn delta(table: &str, e: impl std::fmt::Display) -> Self {
        LakeError::Delta {
            table: table.to_string(),
            reason: e.to_string(),
        }
    }
}
