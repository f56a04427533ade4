use std::error::Error as StdError;

use thiserror::Error;

/// An underlying error kept as the source of a medlake error, for its kind (see
/// [`is_transient`]) and for logs; messages never print row values.
pub type BoxError = Box<dyn StdError + Send + Sync + 'static>;

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
        /// The Delta (or I/O) error underneath.
        #[source]
        source: BoxError,
    },
    /// Listing or reading storage failed.
    #[error("lake storage: {reason}")]
    Storage {
        /// Why.
        reason: String,
        /// The object store's error.
        #[source]
        source: BoxError,
    },
    /// Planning or running a query failed.
    #[error("lake query: {reason}")]
    Query {
        /// Why.
        reason: String,
        /// The engine's error.
        #[source]
        source: BoxError,
    },
}

impl LakeError {
    pub(crate) fn delta(table: &str, e: impl StdError + Send + Sync + 'static) -> Self {
        LakeError::Delta {
            table: table.to_string(),
            reason: e.to_string(),
            source: Box::new(e),
        }
    }

    pub(crate) fn storage(e: impl StdError + Send + Sync + 'static) -> Self {
        LakeError::Storage {
            reason: e.to_string(),
            source: Box::new(e),
        }
    }

    pub(crate) fn query(e: impl StdError + Send + Sync + 'static) -> Self {
        LakeError::Query {
            reason: e.to_string(),
            source: Box::new(e),
        }
    }

    /// Whether trying again may succeed: storage and I/O trouble, not a bad location, a
    /// broken table or a query that cannot plan.
    pub fn is_transient(&self) -> bool {
        is_transient(self)
    }
}

/// Whether `error` (or any error under it) is of a kind that goes away by itself: I/O,
/// the object store, a lost connection. Plan, schema, SQL and constraint errors are
/// permanent: running the same statement again fails the same way, so a runner that
/// retries must not.
///
/// The rule reads the source chain, so it holds however deep the engine wrapped the
/// failure (DataFusion around Parquet around the object store around I/O).
pub fn is_transient(error: &(dyn StdError + 'static)) -> bool {
    use deltalake::datafusion::error::DataFusionError;
    use deltalake::parquet::errors::ParquetError;
    use deltalake::DeltaTableError;
    let mut current = Some(error);
    while let Some(e) = current {
        if e.is::<std::io::Error>() || e.is::<deltalake::ObjectStoreError>() {
            return true;
        }
        if let Some(df) = e.downcast_ref::<DataFusionError>() {
            if matches!(
                df,
                DataFusionError::IoError(_) | DataFusionError::ObjectStore(_)
            ) {
                return true;
            }
        }
        // The Parquet reader folds an object-store failure into a message (fetching a
        // file's footer): its text is all that is left of the kind.
        if let Some(ParquetError::General(message)) = e.downcast_ref::<ParquetError>() {
            if message.contains("Object Store error") {
                return true;
            }
        }
        if let Some(delta) = e.downcast_ref::<DeltaTableError>() {
            if matches!(
                delta,
                DeltaTableError::ObjectStore { .. } | DeltaTableError::Io { .. }
            ) {
                return true;
            }
        }
        current = e.source();
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;
    use deltalake::datafusion::error::DataFusionError;

    #[test]
    fn storage_and_io_errors_are_transient_and_plan_errors_are_not() {
        let io = std::io::Error::new(std::io::ErrorKind::ConnectionReset, "reset by peer");
        assert!(LakeError::storage(io).is_transient());
        let store = deltalake::ObjectStoreError::NotFound {
            path: "t/part-0.parquet".into(),
            source: "gone".into(),
        };
        let wrapped = DataFusionError::External(Box::new(store));
        assert!(
            LakeError::query(wrapped).is_transient(),
            "found under External"
        );
        let footer = deltalake::parquet::errors::ParquetError::General(
            "Failed to fetch metadata for file x.parquet: Object Store error: not found".into(),
        );
        let read = DataFusionError::ParquetError(Box::new(footer));
        assert!(
            LakeError::query(read).is_transient(),
            "a footer that could not be read"
        );
        let plan = DataFusionError::Plan("column stars not found".into());
        assert!(!LakeError::query(plan).is_transient());
        assert!(!LakeError::BadLocation("x".into()).is_transient());
    }
}
