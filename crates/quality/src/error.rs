//! Errors of declaring and running checks. Messages name tables, checks and columns,
//! never row values.

use thiserror::Error;

/// What can go wrong declaring or running checks.
#[derive(Debug, Error)]
pub enum QualityError {
    /// A check declaration (model header or quality.toml) is malformed.
    #[error("{origin}: {reason}")]
    Declaration {
        /// The file.
        origin: String,
        /// What is wrong.
        reason: String,
    },
    /// The lake could not be read or written.
    #[error(transparent)]
    Lake(#[from] medlake_lake::LakeError),
    /// The catalog could not be read or written.
    #[error(transparent)]
    Catalog(#[from] medlake_catalog::CatalogError),
    /// The table to check is not in the lake.
    #[error("{0} is not in the lake (never synced or built)")]
    NotInLake(String),
    /// The engine failed on a check's or a profile's query.
    #[error("{table}: {what}: {source}")]
    Engine {
        /// The table checked.
        table: String,
        /// The check or profile.
        what: String,
        /// The engine's error.
        #[source]
        source: deltalake::datafusion::error::DataFusionError,
    },
    /// Arrow failed shaping results.
    #[error("{what}: {source}")]
    Arrow {
        /// What was being shaped.
        what: String,
        /// Arrow's error.
        #[source]
        source: deltalake::arrow::error::ArrowError,
    },
}

impl QualityError {
    /// An engine error of `what` on `table`.
    pub(crate) fn engine(
        table: &str,
        what: &str,
        source: deltalake::datafusion::error::DataFusionError,
    ) -> QualityError {
        QualityError::Engine {
            table: table.to_string(),
            what: what.to_string(),
            source,
        }
    }
}
