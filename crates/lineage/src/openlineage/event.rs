//! Building OpenLineage run events (spec 2-0-2, facets of OpenLineage release 1.50.0).
//!
//! A `RunEvent` says what one run of a job did at one moment; `RunEvent::to_json` turns it
//! into the JSON the spec defines, every facet stamped with `_producer` and the
//! `_schemaURL` of the facet version it conforms to.

use std::collections::BTreeSet;

use chrono::{DateTime, SecondsFormat, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use uuid::Uuid;

use crate::field::{DatasetLineage, Inputs, Subtype};

/// medlake's version: the processing engine's and the adapter's in the events.
const VERSION: &str = env!("CARGO_PKG_VERSION");

/// The `producer` of every event and the `_producer` of every facet: medlake's source tree
/// at this version, so a consumer can tell which code wrote the metadata.
pub const PRODUCER: &str = concat!(
    "https://github.com/medlake/medlake/tree/",
    env!("CARGO_PKG_VERSION")
);

/// The schema every event conforms to, sent as the event's `schemaURL`.
pub const RUN_EVENT_SCHEMA_URL: &str =
    "https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/RunEvent";

/// The `_schemaURL` of facet `$name` at version `$version`.
macro_rules! facet_url {
    ($version:literal, $name:literal) => {
        concat!(
            "https://openlineage.io/spec/facets/",
            $version,
            "/",
            $name,
            ".json#/$defs/",
            $name
        )
    };
}

const PARENT_FACET: &str = facet_url!("1-1-0", "ParentRunFacet");
const SCHEMA_FACET: &str = facet_url!("1-2-0", "SchemaDatasetFacet");
const COLUMN_LINEAGE_FACET: &str = facet_url!("1-2-0", "ColumnLineageDatasetFacet");
const OUTPUT_STATISTICS_FACET: &str = facet_url!("1-0-2", "OutputStatisticsOutputDatasetFacet");
const ERROR_MESSAGE_FACET: &str = facet_url!("1-0-1", "ErrorMessageRunFacet");
const JOB_TYPE_FACET: &str = facet_url!("2-0-3", "JobTypeJobFacet");
const SQL_FACET: &str = facet_url!("1-1-0", "SQLJobFacet");
const PROCESSING_ENGINE_FACET: &str = facet_url!("1-1-1", "ProcessingEngineRunFacet");
const DATASET_VERSION_FACET: &str = facet_url!("1-0-1", "DatasetVersionDatasetFacet");

/// One run of a job: a build step, a day's build, a sync, a capture flush. The same
/// `RunRef` goes into the START and the COMPLETE/FAIL event of the run, so they share the
/// run id, and into the children's events as their parent.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct RunRef {
    /// The run's id, unique across all runs of all jobs.
    pub run_id: Uuid,
    /// The namespace of the job (medlake's instance, e.g. the lake's URL).
    pub namespace: String,
    /// The job's name within the namespace (`build.dws_payment_1d`, `sync`).
    pub job: String,
}

impl RunRef {
    /// A new run of `job` in `namespace`, with a fresh random (v4) id.
    pub fn new(namespace: impl Into<String>, job: impl Into<String>) -> RunRef {
        RunRef {
            run_id: Uuid::new_v4(),
            namespace: namespace.into(),
            job: job.into(),
        }
    }

    /// `{runId}`, as the event's run and the parent facet have it.
    fn run_json(&self) -> Map<String, Value> {
        map([("runId", Value::from(self.run_id.to_string()))])
    }

    /// `{namespace, name}`, as the event's job and the parent facet have it.
    fn job_json(&self) -> Map<String, Value> {
        map([
            ("namespace", Value::from(self.namespace.as_str())),
            ("name", Value::from(self.job.as_str())),
        ])
    }
}

/// The transition of a run an event reports: every run sends one START and then one
/// COMPLETE or FAIL.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum EventType {
    /// The run began.
    Start,
    /// The run finished and its outputs are written.
    Complete,
    /// The run failed.
    Fail,
}

impl EventType {
    /// The spec's name of the transition (`START`, `COMPLETE`, `FAIL`).
    pub fn as_str(self) -> &'static str {
        match self {
            EventType::Start => "START",
            EventType::Complete => "COMPLETE",
            EventType::Fail => "FAIL",
        }
    }
}

/// The kind of job a run belongs to, reported in the `jobType` job facet so a lineage UI
/// can tell a day's build (a DAG of steps) from one of its steps or a sync.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum JobType {
    /// The build of one day: the parent of its steps (`DAG`).
    BuildDay,
    /// One model built for one day (`TASK`).
    BuildStep,
    /// A sync of the business database into the lake (`JOB`).
    Sync,
    /// A flush of change capture (`JOB`, streaming).
    Capture,
}

impl JobType {
    /// The facet's `processingType`: capture runs continuously, the rest in batches.
    pub fn processing_type(self) -> &'static str {
        match self {
            JobType::Capture => "STREAMING",
            JobType::BuildDay | JobType::BuildStep | JobType::Sync => "BATCH",
        }
    }

    /// The facet's integration-specific `jobType`.
    pub fn job_type(self) -> &'static str {
        match self {
            JobType::BuildDay => "DAG",
            JobType::BuildStep => "TASK",
            JobType::Sync | JobType::Capture => "JOB",
        }
    }
}

/// A dataset a run reads or writes, named as OpenLineage names datasets.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct DatasetRef {
    /// Where the dataset lives (the lake's URL, the business database's URL).
    pub namespace: String,
    /// The dataset's name within the namespace (the table's name).
    pub name: String,
}

impl DatasetRef {
    /// Dataset `name` in `namespace`.
    pub fn new(namespace: impl Into<String>, name: impl Into<String>) -> DatasetRef {
        DatasetRef {
            namespace: namespace.into(),
            name: name.into(),
        }
    }

    /// `{namespace, name}`, the start of an input or output dataset entry.
    fn json(&self) -> Map<String, Value> {
        map([
            ("namespace", Value::from(self.namespace.as_str())),
            ("name", Value::from(self.name.as_str())),
        ])
    }
}

/// What a run wrote to one output: its schema, where each column came from, and how much
/// was written.
#[derive(Debug, Clone)]
pub struct OutputDataset<'a> {
    /// The dataset written.
    pub dataset: DatasetRef,
    /// Column name and type text, in order; empty means no `schema` facet.
    pub schema: Vec<(String, String)>,
    /// Column lineage; `None` means no `columnLineage` facet.
    pub lineage: Option<&'a DatasetLineage>,
    /// What was written; `None` means no `outputStatistics` facet.
    pub stats: Option<OutputStats>,
}

impl<'a> OutputDataset<'a> {
    /// An output with nothing known about it yet but its name.
    pub fn new(dataset: DatasetRef) -> OutputDataset<'a> {
        OutputDataset {
            dataset,
            schema: Vec::new(),
            lineage: None,
            stats: None,
        }
    }

    /// The output's entry in the event's `outputs`.
    fn json(&self, namespace_of: &dyn Fn(&str) -> String) -> Value {
        let mut entry = self.dataset.json();
        let mut facets = Map::new();
        if !self.schema.is_empty() {
            facets.insert("schema".to_owned(), schema_facet(&self.schema));
        }
        if let Some(lineage) = self.lineage {
            facets.insert(
                "columnLineage".to_owned(),
                column_lineage_facet(lineage, namespace_of),
            );
        }
        if let Some(version) = self.stats.and_then(|s| s.version) {
            let facet = facet(
                DATASET_VERSION_FACET,
                [("datasetVersion", Value::from(version.to_string()))],
            );
            facets.insert("version".to_owned(), facet);
        }
        if !facets.is_empty() {
            entry.insert("facets".to_owned(), Value::Object(facets));
        }
        if let Some(stats) = self.stats {
            let output_facets = map([("outputStatistics", stats.facet())]);
            entry.insert("outputFacets".to_owned(), Value::Object(output_facets));
        }
        Value::Object(entry)
    }
}

/// What a run wrote to one output, for the `outputStatistics` facet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OutputStats {
    /// Rows written.
    pub rows: u64,
    /// Bytes written (0: not known, no `size` is sent).
    pub bytes: u64,
    /// The Delta table version the write produced: the dataset's `version` facet.
    pub version: Option<i64>,
}

impl OutputStats {
    /// The `outputStatistics` output facet (`rowCount`, `size`).
    fn facet(self) -> Value {
        let mut stats = facet(
            OUTPUT_STATISTICS_FACET,
            [("rowCount", Value::from(self.rows))],
        );
        // A writer that does not know its bytes (capture) says 0: no size then.
        if let (Value::Object(m), true) = (&mut stats, self.bytes > 0) {
            m.insert("size".to_owned(), Value::from(self.bytes));
        }
        stats
    }
}

/// Everything one event says about a run: which run, its transition, what it read and
/// wrote, and why it failed.
#[derive(Debug, Clone)]
pub struct RunEvent<'a> {
    /// The transition reported.
    pub event_type: EventType,
    /// When the transition happened.
    pub time: DateTime<Utc>,
    /// The run.
    pub run: &'a RunRef,
    /// The run that started this one (a day's build for its steps).
    pub parent: Option<&'a RunRef>,
    /// The kind of job.
    pub job_type: JobType,
    /// The step's SQL, when the step is SQL (`sql` job facet).
    pub sql: Option<&'a str>,
    /// Datasets read.
    pub inputs: Vec<DatasetRef>,
    /// Datasets written.
    pub outputs: Vec<OutputDataset<'a>>,
    /// Why the run failed (`errorMessage` run facet).
    pub error: Option<&'a str>,
}

impl<'a> RunEvent<'a> {
    /// An event of `run` happening now, with no parent, SQL, datasets or error yet.
    pub fn new(event_type: EventType, run: &'a RunRef, job_type: JobType) -> RunEvent<'a> {
        RunEvent {
            event_type,
            time: Utc::now(),
            run,
            parent: None,
            job_type,
            sql: None,
            inputs: Vec::new(),
            outputs: Vec::new(),
            error: None,
        }
    }
}

impl RunEvent<'_> {
    /// The event as OpenLineage JSON. `namespace_of(dataset)` gives the namespace of an
    /// input field's dataset in the column lineage facet (lake tables live in the lake,
    /// business tables in the business database).
    pub fn to_json(&self, namespace_of: &dyn Fn(&str) -> String) -> Value {
        let mut run = self.run.run_json();
        run.insert("facets".to_owned(), Value::Object(self.run_facets()));
        let mut job = self.run.job_json();
        job.insert("facets".to_owned(), Value::Object(self.job_facets()));
        let inputs = self.inputs.iter().map(|d| Value::Object(d.json()));
        let outputs = self.outputs.iter().map(|o| o.json(namespace_of));
        let time = self.time.to_rfc3339_opts(SecondsFormat::Millis, true);
        Value::Object(map([
            ("eventType", Value::from(self.event_type.as_str())),
            ("eventTime", Value::from(time)),
            ("producer", Value::from(PRODUCER)),
            ("schemaURL", Value::from(RUN_EVENT_SCHEMA_URL)),
            ("run", Value::Object(run)),
            ("job", Value::Object(job)),
            ("inputs", Value::Array(inputs.collect())),
            ("outputs", Value::Array(outputs.collect())),
        ]))
    }

    /// `processing_engine`, and `parent` and `errorMessage` when there are.
    fn run_facets(&self) -> Map<String, Value> {
        let mut facets = map([("processing_engine", processing_engine_facet())]);
        if let Some(parent) = self.parent {
            facets.insert("parent".to_owned(), parent_facet(parent));
        }
        if let Some(message) = self.error {
            facets.insert("errorMessage".to_owned(), error_message_facet(message));
        }
        facets
    }

    /// `jobType`, and `sql` when the step is SQL.
    fn job_facets(&self) -> Map<String, Value> {
        let mut facets = map([("jobType", job_type_facet(self.job_type))]);
        if let Some(query) = self.sql {
            facets.insert(
                "sql".to_owned(),
                facet(SQL_FACET, [("query", Value::from(query))]),
            );
        }
        facets
    }
}

/// A JSON object of `entries`.
fn map<const N: usize>(entries: [(&str, Value); N]) -> Map<String, Value> {
    entries
        .into_iter()
        .map(|(key, value)| (key.to_owned(), value))
        .collect()
}

/// A facet conforming to `schema_url`: `_producer`, `_schemaURL` and `entries`.
fn facet<const N: usize>(schema_url: &str, entries: [(&str, Value); N]) -> Value {
    let mut object = map([
        ("_producer", Value::from(PRODUCER)),
        ("_schemaURL", Value::from(schema_url)),
    ]);
    object.extend(map(entries));
    Value::Object(object)
}

/// The `processing_engine` run facet: medlake at this version.
fn processing_engine_facet() -> Value {
    facet(
        PROCESSING_ENGINE_FACET,
        [
            ("version", Value::from(VERSION)),
            ("name", Value::from("medlake")),
            ("openlineageAdapterVersion", Value::from(VERSION)),
        ],
    )
}

/// The `parent` run facet; the parent is the root too (a day's build starts its steps and
/// is started by nothing that reports lineage).
fn parent_facet(parent: &RunRef) -> Value {
    let (run, job) = (parent.run_json(), parent.job_json());
    let root = map([
        ("run", Value::Object(run.clone())),
        ("job", Value::Object(job.clone())),
    ]);
    let (run, job, root) = (Value::Object(run), Value::Object(job), Value::Object(root));
    facet(PARENT_FACET, [("run", run), ("job", job), ("root", root)])
}

/// The `errorMessage` run facet of a failed run.
fn error_message_facet(message: &str) -> Value {
    facet(
        ERROR_MESSAGE_FACET,
        [
            ("message", Value::from(message)),
            ("programmingLanguage", Value::from("rust")),
        ],
    )
}

/// The `jobType` job facet.
fn job_type_facet(job_type: JobType) -> Value {
    facet(
        JOB_TYPE_FACET,
        [
            ("processingType", Value::from(job_type.processing_type())),
            ("integration", Value::from("MEDLAKE")),
            ("jobType", Value::from(job_type.job_type())),
        ],
    )
}

/// The `schema` dataset facet: one `{name, type}` per column, in order.
fn schema_facet(schema: &[(String, String)]) -> Value {
    let fields = schema.iter().map(|(name, data_type)| {
        Value::Object(map([
            ("name", Value::from(name.as_str())),
            ("type", Value::from(data_type.as_str())),
        ]))
    });
    facet(SCHEMA_FACET, [("fields", Value::Array(fields.collect()))])
}

/// The `columnLineage` dataset facet: each column's input fields (`fields`) and the
/// inputs deciding the dataset's rows (`dataset`).
fn column_lineage_facet(lineage: &DatasetLineage, namespace_of: &dyn Fn(&str) -> String) -> Value {
    let fields: Map<String, Value> = lineage
        .columns
        .iter()
        .map(|column| {
            let inputs = input_fields(&column.inputs, namespace_of);
            (
                column.name.clone(),
                Value::Object(map([("inputFields", inputs)])),
            )
        })
        .collect();
    facet(
        COLUMN_LINEAGE_FACET,
        [
            ("fields", Value::Object(fields)),
            (
                "dataset",
                input_fields(&lineage.dataset_inputs, namespace_of),
            ),
        ],
    )
}

/// One `InputField` per input field, with one transformation per way it is used.
fn input_fields(inputs: &Inputs, namespace_of: &dyn Fn(&str) -> String) -> Value {
    let fields = inputs.iter().map(|(field, subtypes)| {
        Value::Object(map([
            ("namespace", Value::from(namespace_of(&field.dataset))),
            ("name", Value::from(field.dataset.as_str())),
            ("field", Value::from(field.field.as_str())),
            ("transformations", transformations(subtypes)),
        ]))
    });
    Value::Array(fields.collect())
}

/// `{type, subtype, masking: false}` for each subtype.
fn transformations(subtypes: &BTreeSet<Subtype>) -> Value {
    let transformations = subtypes.iter().map(|subtype| {
        Value::Object(map([
            ("type", Value::from(subtype.kind())),
            ("subtype", Value::from(subtype.name())),
            ("masking", Value::Bool(false)),
        ]))
    });
    Value::Array(transformations.collect())
}

#[cfg(test)]
mod tests;
