//! The plan walk against DataFusion's own planner: each construct the models use, and the
//! ones they might (correlated subqueries, unions, windows, `SELECT *`).

use std::sync::Arc;

use deltalake::arrow::datatypes::{DataType, Field, Fields, Schema};
use deltalake::datafusion::datasource::MemTable;
use deltalake::datafusion::prelude::SessionContext;

use crate::field::{DatasetLineage, FieldRef, Subtype};
use crate::plan::plan_lineage;

fn table(ctx: &SessionContext, name: &str, fields: Vec<Field>) {
    let schema = Arc::new(Schema::new(fields));
    let t = MemTable::try_new(schema, vec![vec![]]).unwrap();
    ctx.register_table(name, Arc::new(t)).unwrap();
}

fn session() -> SessionContext {
    let ctx = SessionContext::new();
    let data = Fields::from(vec![
        Field::new("id", DataType::Int64, true),
        Field::new("consultation_id", DataType::Int64, true),
        Field::new("payment_amount", DataType::Decimal128(16, 2), true),
        Field::new("status", DataType::Int64, true),
        Field::new("update_time", DataType::Utf8, true),
    ]);
    table(
        &ctx,
        "ods_payment_inc",
        vec![
            Field::new("ts", DataType::Int64, true),
            Field::new("data", DataType::Struct(data), true),
            Field::new("dt", DataType::Utf8, true),
        ],
    );
    table(
        &ctx,
        "dim_doctor",
        vec![
            Field::new("doctor_id", DataType::Int64, true),
            Field::new("hospital_name", DataType::Utf8, true),
            Field::new("dt", DataType::Utf8, true),
        ],
    );
    ctx
}

async fn lineage(sql: &str) -> DatasetLineage {
    let ctx = session();
    let df = ctx.sql(sql).await.unwrap();
    plan_lineage("out", df.logical_plan())
}

fn subtypes(l: &DatasetLineage, column: &str, dataset: &str, field: &str) -> Vec<Subtype> {
    let c = l
        .column(column)
        .unwrap_or_else(|| panic!("no column {column}"));
    c.inputs
        .get(&FieldRef::new(dataset, field))
        .map(|s| s.iter().copied().collect())
        .unwrap_or_default()
}

#[tokio::test]
async fn a_cte_resolves_to_the_struct_field_of_the_real_table() {
    let l = lineage(
        "WITH pay AS (SELECT data['payment_amount'] AS amount, data['id'] AS id,
                  row_number() OVER (PARTITION BY data['id'] ORDER BY ts) AS rn
           FROM ods_payment_inc WHERE dt = '2026-01-01' AND data['status'] = 203)
         SELECT id, amount * 100 AS cents FROM pay WHERE rn = 1",
    )
    .await;
    use Subtype::*;
    assert_eq!(subtypes(&l, "id", "ods_payment_inc", "data.id"), [Identity]);
    assert_eq!(
        subtypes(&l, "cents", "ods_payment_inc", "data.payment_amount"),
        [Transformation]
    );
    let rows = &l.dataset_inputs;
    assert!(rows[&FieldRef::new("ods_payment_inc", "dt")].contains(&Filter));
    assert!(rows[&FieldRef::new("ods_payment_inc", "data.status")].contains(&Filter));
    // `rn = 1` filters by the window's keys.
    assert!(rows[&FieldRef::new("ods_payment_inc", "ts")].contains(&Filter));
    assert!(l.input_datasets().iter().all(|d| d != "pay"));
}

#[tokio::test]
async fn aggregates_joins_and_group_keys_are_told_apart() {
    let l = lineage(
        "SELECT d.hospital_name, sum(p.data['payment_amount']) AS paid, count(*) AS n
         FROM ods_payment_inc p JOIN dim_doctor d ON d.doctor_id = p.data['consultation_id']
         GROUP BY d.hospital_name ORDER BY paid DESC",
    )
    .await;
    use Subtype::*;
    assert_eq!(
        subtypes(&l, "hospital_name", "dim_doctor", "hospital_name"),
        [Identity]
    );
    assert_eq!(
        subtypes(&l, "paid", "ods_payment_inc", "data.payment_amount"),
        [Aggregation]
    );
    // count(*) reads no value: it counts the rows of both joined tables.
    assert_eq!(subtypes(&l, "n", "ods_payment_inc", "*"), [Aggregation]);
    assert_eq!(subtypes(&l, "n", "dim_doctor", "*"), [Aggregation]);
    assert!(subtypes(&l, "n", "dim_doctor", "hospital_name").is_empty());
    let rows = &l.dataset_inputs;
    assert!(rows[&FieldRef::new("dim_doctor", "doctor_id")].contains(&Join));
    assert!(rows[&FieldRef::new("ods_payment_inc", "data.consultation_id")].contains(&Join));
    assert!(rows[&FieldRef::new("dim_doctor", "hospital_name")].contains(&GroupBy));
    assert!(rows[&FieldRef::new("ods_payment_inc", "data.payment_amount")].contains(&Sort));
}

#[tokio::test]
async fn subqueries_unions_case_and_star_reach_the_scans() {
    let l = lineage(
        "SELECT * FROM (
           SELECT doctor_id AS id,
                  CASE WHEN hospital_name LIKE '%a%' THEN 'a' ELSE hospital_name END AS label,
                  (SELECT max(data['payment_amount']) FROM ods_payment_inc q
                   WHERE q.data['consultation_id'] = d.doctor_id) AS top
           FROM dim_doctor d
           WHERE d.doctor_id IN (SELECT data['id'] FROM ods_payment_inc)
           UNION ALL
           SELECT data['id'], CAST(data['status'] AS VARCHAR), NULL FROM ods_payment_inc
         ) u",
    )
    .await;
    use Subtype::*;
    assert_eq!(subtypes(&l, "id", "dim_doctor", "doctor_id"), [Identity]);
    assert_eq!(subtypes(&l, "id", "ods_payment_inc", "data.id"), [Identity]);
    let label = subtypes(&l, "label", "dim_doctor", "hospital_name");
    assert!(label.contains(&Conditional) && label.contains(&Transformation));
    assert_eq!(
        subtypes(&l, "label", "ods_payment_inc", "data.status"),
        [Transformation]
    );
    // The subquery's value is an aggregate of the payments.
    assert_eq!(
        subtypes(&l, "top", "ods_payment_inc", "data.payment_amount"),
        [Aggregation]
    );
    // The correlation decides which payments count for a doctor.
    assert!(subtypes(&l, "top", "dim_doctor", "doctor_id").contains(&Filter));
    assert!(l.dataset_inputs[&FieldRef::new("ods_payment_inc", "data.id")].contains(&Filter));
}

#[tokio::test]
async fn a_pivot_of_a_long_table_reads_the_slice_its_key_names() {
    let ctx = session();
    table(
        &ctx,
        "long_values",
        vec![
            Field::new("measure", DataType::Utf8, true),
            Field::new("value", DataType::Float64, true),
        ],
    );
    let sql = "SELECT max(CASE WHEN measure = 'paid' THEN value END) AS paid,
                      max(value) AS any_value
               FROM long_values";
    let df = ctx.sql(sql).await.unwrap();
    let rule = crate::plan::LongTable {
        table: "long_values".into(),
        key: "measure".into(),
        value: "value".into(),
        prefix: "metric:".into(),
    };
    let l = crate::plan::plan_lineage_with("out", df.logical_plan(), &[rule]);
    assert_eq!(
        subtypes(&l, "paid", "metric:paid", "value"),
        [Subtype::Aggregation]
    );
    assert!(subtypes(&l, "paid", "long_values", "value").is_empty());
    assert_eq!(
        subtypes(&l, "any_value", "long_values", "value"),
        [Subtype::Aggregation]
    );
}
