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
}

impl WarehouseError {
    pub(crate) fn definition(path: impl Into<String>, reason: impl ToString) -> Self {
        WarehouseError::Definition {
            path: path.into(),
            reason: reason.to_string(),
        }
    }

    pub(crate) fn model(model: impl Into<String>, reason: impl ToString) -> Self {
        WarehouseError::Model {
            model: model.into(),
            reason: reason.to_string(),
        }
    }
}
