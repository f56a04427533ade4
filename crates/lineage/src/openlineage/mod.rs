//! OpenLineage: telling lineage tools (Marquez, DataHub, OpenMetadata, anything that speaks
//! the OpenLineage HTTP API) what medlake's runs read and wrote.
//!
//! Every run of a job reports a START event and then a COMPLETE or FAIL event with the
//! same run id. The jobs are a day's build (`JobType::BuildDay`, the parent of its steps),
//! one model built for one day (`JobType::BuildStep`), a sync of the business database
//! (`JobType::Sync`) and a flush of change capture (`JobType::Capture`). An event names its
//! inputs and outputs as datasets in namespaces (the lake's URL for lake tables, the
//! business database's URL for business tables) and, for each output, its schema, the
//! lineage of each column (`crate::field::DatasetLineage`) and what was written.
//!
//! - `event` builds the events as JSON conforming to the OpenLineage 2-0-2 spec and the
//!   facet versions of OpenLineage release 1.50.0 (each facet carries `_producer` and the
//!   `_schemaURL` of its version).
//! - `transport` delivers them to a JSON-lines file, an HTTP endpoint, both or neither. It
//!   never fails its caller: a build does not fail because lineage was not delivered;
//!   failures are logged and counted.

pub mod event;
pub mod transport;

pub use event::{
    DatasetRef, EventType, JobType, OutputDataset, OutputStats, RunEvent, RunRef, PRODUCER,
    RUN_EVENT_SCHEMA_URL,
};
pub use transport::{validate_url, DeliveryCounts, Emitter, TransportConfig, TransportError};

/// Where an installation's datasets live, as events name them: business tables in the
/// business database's namespace (its URL without a password), everything else (lake
/// tables, metrics) in the lake's (its URL).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Namespaces {
    /// The lake's URL.
    pub lake: String,
    /// The business database's URL, without its password.
    pub business: String,
}

impl Namespaces {
    /// The namespace of dataset `name`.
    pub fn of(&self, name: &str) -> String {
        match crate::graph::kind_of(name) {
            crate::graph::NodeKind::Business => self.business.clone(),
            _ => self.lake.clone(),
        }
    }

    /// Dataset `name` in its namespace.
    pub fn dataset(&self, name: &str) -> DatasetRef {
        DatasetRef::new(self.of(name), name)
    }
}
