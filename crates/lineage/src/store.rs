//! Lineage kept in the catalog: each step's lineage under a version (a hash of what the
//! step ran: a model's SQL, the metric catalog), recorded with every partition the step
//! builds, so the lineage of a past day is the lineage that built it.

use chrono::NaiveDate;
use medlake_catalog::Catalog;
use sha2::{Digest, Sha256};

use crate::field::DatasetLineage;

/// Why stored lineage could not be written or read.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The catalog failed.
    #[error("lineage in the catalog: {0}")]
    Catalog(#[from] medlake_catalog::CatalogError),
    /// A stored body does not read back (written by a newer medlake, or damaged).
    #[error("the stored lineage of {step} (version {version}) does not read: {reason}")]
    Body {
        /// The step.
        step: String,
        /// The version.
        version: String,
        /// Why.
        reason: String,
    },
}

/// The version of a step's lineage: the first 16 hex digits of the SHA-256 of what the
/// step ran (`kind` tells apart steps of the same text).
pub fn version_of(kind: &str, text: &str) -> String {
    let digest = Sha256::digest(format!("{kind}\n{text}").as_bytes());
    digest.iter().take(8).map(|b| format!("{b:02x}")).collect()
}

/// What one step's build says about lineage: the step, its version, and the lineage of
/// every dataset it makes (its table; the metric steps also the metrics).
#[derive(Debug, Clone, Default)]
pub struct StepLineage {
    /// The step (the table it writes).
    pub step: String,
    /// See [`version_of`].
    pub version: String,
    /// The datasets it makes.
    pub datasets: Vec<DatasetLineage>,
}

/// Records that `lineage`'s step built day `dt`.
pub fn record(catalog: &Catalog, lineage: &StepLineage, dt: NaiveDate) -> Result<(), StoreError> {
    let body = serde_json::to_string(&lineage.datasets).map_err(|e| StoreError::Body {
        step: lineage.step.clone(),
        version: lineage.version.clone(),
        reason: e.to_string(),
    })?;
    catalog.record_lineage(&lineage.step, &lineage.version, &body, dt)?;
    Ok(())
}

/// Every step's lineage as of `day` (the versions that built it), or as last built.
pub fn load(catalog: &Catalog, day: Option<NaiveDate>) -> Result<Vec<StepLineage>, StoreError> {
    catalog
        .lineage_records(day)?
        .into_iter()
        .map(|r| {
            let datasets = serde_json::from_str(&r.body).map_err(|e| StoreError::Body {
                step: r.step.clone(),
                version: r.version.clone(),
                reason: e.to_string(),
            })?;
            Ok(StepLineage {
                step: r.step,
                version: r.version,
                datasets,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_lineage_reads_back_as_written() {
        use crate::field::{add_input, ColumnLineage, FieldRef, Inputs, Subtype};
        let mut inputs = Inputs::new();
        add_input(
            &mut inputs,
            FieldRef::new("payment", "payment_amount"),
            Subtype::Identity,
        );
        let mut rows = Inputs::new();
        add_input(
            &mut rows,
            FieldRef::new("payment", "status"),
            Subtype::Filter,
        );
        let written = vec![DatasetLineage {
            dataset: "dwd_paid".into(),
            columns: vec![ColumnLineage {
                name: "amount".into(),
                inputs,
            }],
            dataset_inputs: rows,
        }];
        let json = serde_json::to_string(&written).unwrap();
        let read: Vec<DatasetLineage> = serde_json::from_str(&json).unwrap();
        assert_eq!(read, written);
    }

    #[test]
    fn versions_follow_the_text() {
        assert_eq!(
            version_of("model", "SELECT 1"),
            version_of("model", "SELECT 1")
        );
        assert_ne!(
            version_of("model", "SELECT 1"),
            version_of("model", "SELECT 2")
        );
        assert_eq!(version_of("model", "x").len(), 16);
    }
}
