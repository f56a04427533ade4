//! Tests of building run events: required fields, facet schemas, run ids, errors, column
//! lineage.

use serde_json::json;

use super::*;
use crate::field::{add_input, ColumnLineage, FieldRef};

fn namespace_of(dataset: &str) -> String {
    if dataset.starts_with("ods_") {
        "file:///lake".to_owned()
    } else {
        "sqlite:///business.db".to_owned()
    }
}

fn payment_lineage() -> DatasetLineage {
    let (payment, id) = (
        FieldRef::new("ods_payment_inc", "data.amount"),
        FieldRef::new("ods_payment_inc", "data.id"),
    );
    let mut amount = Inputs::new();
    add_input(&mut amount, payment, Subtype::Identity);
    let mut orders = Inputs::new();
    add_input(&mut orders, id.clone(), Subtype::Aggregation);
    add_input(&mut orders, id, Subtype::Conditional);
    let mut dataset_inputs = Inputs::new();
    add_input(
        &mut dataset_inputs,
        FieldRef::new("payment", "status"),
        Subtype::Filter,
    );
    DatasetLineage {
        dataset: "dws_payment_1d".to_owned(),
        columns: vec![
            ColumnLineage {
                name: "amount".to_owned(),
                inputs: amount,
            },
            ColumnLineage {
                name: "orders".to_owned(),
                inputs: orders,
            },
        ],
        dataset_inputs,
    }
}

/// A COMPLETE event of build step `step` (child of `day`) with every facet.
fn full_event(step: &RunRef, day: &RunRef, lineage: &DatasetLineage) -> Value {
    let mut event = RunEvent::new(EventType::Complete, step, JobType::BuildStep);
    event.parent = Some(day);
    event.sql = Some("SELECT 1");
    event.inputs = vec![DatasetRef::new("file:///lake", "ods_payment_inc")];
    let mut output = OutputDataset::new(DatasetRef::new("file:///lake", "dws_payment_1d"));
    output.schema = vec![("amount".to_owned(), "Decimal128(12, 2)".to_owned())];
    output.lineage = Some(lineage);
    output.stats = Some(OutputStats {
        rows: 3,
        bytes: 1024,
        version: Some(7),
    });
    event.outputs = vec![output];
    event.to_json(&namespace_of)
}

fn assert_facet(facet: &Value, schema_url: &str) {
    assert_eq!(facet["_producer"], PRODUCER);
    assert_eq!(facet["_schemaURL"], schema_url);
}

#[test]
fn event_has_required_fields_and_facet_schemas() {
    let (day, step) = (RunRef::new("medlake", "build"), RunRef::new("m", "s"));
    let lineage = payment_lineage();
    let json = full_event(&step, &day, &lineage);
    assert_eq!(json["eventType"], "COMPLETE");
    assert_eq!(json["schemaURL"], RUN_EVENT_SCHEMA_URL);
    assert!(PRODUCER.starts_with("https://github.com/medlake/medlake/tree/"));
    assert_eq!(json["producer"], PRODUCER);
    let time = json["eventTime"].as_str().unwrap_or_default();
    assert!(DateTime::parse_from_rfc3339(time).is_ok(), "{time}");
    let run_id = json["run"]["runId"].as_str().unwrap_or_default();
    assert_eq!(Uuid::parse_str(run_id).ok(), Some(step.run_id));
    assert_eq!(json["job"]["namespace"], "m");
    assert_eq!(json["job"]["name"], "s");
    assert_eq!(json["inputs"][0]["name"], "ods_payment_inc");

    let run_facets = &json["run"]["facets"];
    assert_facet(&run_facets["processing_engine"], PROCESSING_ENGINE_FACET);
    assert_eq!(run_facets["processing_engine"]["name"], "medlake");
    assert_eq!(run_facets["processing_engine"]["version"], VERSION);
    let parent = &run_facets["parent"];
    assert_facet(parent, PARENT_FACET);
    assert_eq!(parent["run"]["runId"], day.run_id.to_string());
    assert_eq!(parent["job"]["name"], "build");
    assert_eq!(parent["root"]["run"]["runId"], day.run_id.to_string());
    assert!(run_facets.get("errorMessage").is_none());

    let job_facets = &json["job"]["facets"];
    assert_facet(&job_facets["jobType"], JOB_TYPE_FACET);
    assert_eq!(job_facets["jobType"]["jobType"], "TASK");
    assert_eq!(job_facets["jobType"]["processingType"], "BATCH");
    assert_eq!(job_facets["jobType"]["integration"], "MEDLAKE");
    assert_facet(&job_facets["sql"], SQL_FACET);
    assert_eq!(job_facets["sql"]["query"], "SELECT 1");

    let output = &json["outputs"][0];
    let schema = &output["facets"]["schema"];
    assert_facet(schema, SCHEMA_FACET);
    assert_eq!(schema["fields"][0]["name"], "amount");
    assert_eq!(schema["fields"][0]["type"], "Decimal128(12, 2)");
    assert_facet(&output["facets"]["columnLineage"], COLUMN_LINEAGE_FACET);
    let stats = &output["outputFacets"]["outputStatistics"];
    assert_facet(stats, OUTPUT_STATISTICS_FACET);
    assert_eq!(stats["rowCount"], 3);
    assert_eq!(stats["size"], 1024);
}

#[test]
fn facet_urls_name_the_facet_and_version() {
    assert_eq!(
        PARENT_FACET,
        "https://openlineage.io/spec/facets/1-1-0/ParentRunFacet.json#/$defs/ParentRunFacet"
    );
    assert!(COLUMN_LINEAGE_FACET.contains("/1-2-0/ColumnLineageDatasetFacet.json#/$defs/"));
}

#[test]
fn start_and_complete_share_the_run_id() {
    let run = RunRef::new("medlake", "sync");
    let start = RunEvent::new(EventType::Start, &run, JobType::Sync).to_json(&namespace_of);
    let end = RunEvent::new(EventType::Complete, &run, JobType::Sync).to_json(&namespace_of);
    assert_eq!(start["eventType"], "START");
    assert_eq!(end["eventType"], "COMPLETE");
    assert_eq!(start["run"]["runId"], end["run"]["runId"]);
    assert_ne!(RunRef::new("medlake", "sync").run_id, run.run_id);
    assert!(start["run"]["facets"].get("parent").is_none());
    assert_eq!(start["outputs"], json!([]));
    assert_eq!(start["job"]["facets"]["jobType"]["jobType"], "JOB");
}

#[test]
fn fail_carries_the_error_message() {
    let run = RunRef::new("medlake", "capture");
    let mut event = RunEvent::new(EventType::Fail, &run, JobType::Capture);
    event.error = Some("disk full");
    let json = event.to_json(&namespace_of);
    assert_eq!(json["eventType"], "FAIL");
    let error = &json["run"]["facets"]["errorMessage"];
    assert_facet(error, ERROR_MESSAGE_FACET);
    assert_eq!(error["message"], "disk full");
    assert_eq!(error["programmingLanguage"], "rust");
    assert_eq!(
        json["job"]["facets"]["jobType"]["processingType"],
        "STREAMING"
    );
}

#[test]
fn column_lineage_maps_direct_and_indirect() {
    let (day, step) = (RunRef::new("medlake", "build"), RunRef::new("m", "s"));
    let lineage = payment_lineage();
    let json = full_event(&step, &day, &lineage);
    let facet = &json["outputs"][0]["facets"]["columnLineage"];
    let amount = &facet["fields"]["amount"]["inputFields"][0];
    assert_eq!(amount["namespace"], "file:///lake");
    assert_eq!(amount["name"], "ods_payment_inc");
    assert_eq!(amount["field"], "data.amount");
    let identity = json!([{"type": "DIRECT", "subtype": "IDENTITY", "masking": false}]);
    assert_eq!(amount["transformations"], identity);
    let orders = &facet["fields"]["orders"]["inputFields"];
    assert_eq!(orders.as_array().map(Vec::len), Some(1));
    let kinds = json!([
        {"type": "DIRECT", "subtype": "AGGREGATION", "masking": false},
        {"type": "INDIRECT", "subtype": "CONDITIONAL", "masking": false},
    ]);
    assert_eq!(orders[0]["transformations"], kinds);
    let dataset = &facet["dataset"][0];
    assert_eq!(dataset["namespace"], "sqlite:///business.db");
    assert_eq!(dataset["name"], "payment");
    assert_eq!(dataset["field"], "status");
    assert_eq!(dataset["transformations"][0]["type"], "INDIRECT");
    assert_eq!(dataset["transformations"][0]["subtype"], "FILTER");
}

#[test]
fn outputs_without_schema_or_lineage_have_no_such_facets() {
    let run = RunRef::new("medlake", "sync");
    let mut event = RunEvent::new(EventType::Complete, &run, JobType::Sync);
    let output = OutputDataset::new(DatasetRef::new("file:///lake", "ods_user_full"));
    event.outputs = vec![output];
    let json = event.to_json(&namespace_of);
    let output = &json["outputs"][0];
    assert_eq!(output["namespace"], "file:///lake");
    assert_eq!(output["name"], "ods_user_full");
    assert!(output.get("facets").is_none());
    assert!(output.get("outputFacets").is_none());
    assert!(json["job"]["facets"].get("sql").is_none());
}
