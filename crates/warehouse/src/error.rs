use thiserror::Error;

/// What can go wrong loading or building the warehouse.
#[derive(Debug, Error)]
pub enum WarehouseError {
    /// A model file or the metric catalog cannot be read or is malformed.
    #[error("{path}: {reason}")]
    Definition {
        /// File (or model) at fault.
        path: String,
        /// What is wrong.
        reason: String,
    },
    /// The models depend on each other in a circle.
    #[error("models depend on each other in a cycle: {0}")]
    Cycle(String),
    /// A model's SQL failed to plan or run.
    #[error("model {model}: {reason}")]
    Model {
        /// Model name.
        model: String,
        /// The engine's message.
        reason: String,
        /// The engine's error, when the failure came from the engine (its kind decides
        /// whether a retry may help).
        #[source]
        source: Option<medlake_lake::BoxError>,
    },
    /// A day is not `YYYY-MM-DD`, or a range is empty.
    #[error("bad day {0:?}: expected YYYY-MM-DD")]
    BadDay(String),
    /// The lake failed.
    #[error(transparent)]
    Lake(#[from] medlake_lake::LakeError),
    /// The catalog failed.
    #[error(transparent)]
    Catalog(#[from] medlake_catalog::CatalogError),
    /// A quality check could not be declared or the audit could not read its partition.
    #[error(transparent)]
    Quality(#[from] medlake_quality::QualityError),
    /// An `error` check failed on a step's new partition: it was not published (the
    /// previous one stays). Permanent: the same rows fail the same way again.
    #[error("{step}: {verdict}")]
    ChecksFailed {
        /// The step.
        step: String,
        /// Which checks failed and what they found.
        verdict: String,
    },
}

impl WarehouseError {
    pub(crate) fn definition(path: impl Into<String>, reason: impl ToString) -> Self {
        WarehouseError::Definition {
            path: path.into(),
            reason: reason.to_string(),
        }
    }

    /// A model failure medlake itself found (a bad result, a missing input): permanent.
    pub(crate) fn model(model: impl Into<String>, reason: impl ToString) -> Self {
        WarehouseError::Model {
            model: model.into(),
            reason: reason.to_string(),
            source: None,
        }
    }

    /// A failure of the engine while planning or running `model`, kept as the source.
    pub(crate) fn engine(
        model: impl Into<String>,
        error: impl std::error::Error + Send + Sync + 'static,
    ) -> Self {
        WarehouseError::Model {
            model: model.into(),
            reason: error.to_string(),
            source: Some(Box::new(error)),
        }
    }

    /// Whether a retry may succeed: I/O, object-store and lost-connection failures are
    /// transient; plan, schema, SQL, constraint and definition errors are permanent (the
    /// same SQL fails the same way again), so the runner does not retry them.
    pub fn is_transient(&self) -> bool {
        match self {
            WarehouseError::Lake(e) => e.is_transient(),
            WarehouseError::Model {
                source: Some(e), ..
            } => medlake_lake::is_transient(e.as_ref()),
            _ => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use deltalake::datafusion::error::DataFusionError;

    #[test]
    fn a_sql_error_is_permanent_and_an_object_store_error_is_transient() {
        let sql = DataFusionError::Plan("No field named stars".into());
        assert!(!WarehouseError::engine("dwd_review", sql).is_transient());
        let store = deltalake::ObjectStoreError::Generic {
            store: "S3",
            source: "connection reset".into(),
        };
        let read = DataFusionError::ObjectStore(Box::new(store));
        assert!(WarehouseError::engine("dwd_review", read).is_transient());
        assert!(!WarehouseError::model("dwd_review", "no rows for 2026-01-01").is_transient());
    }
}
