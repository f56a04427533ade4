//! `medlake-bench policy`: what the policy rewrite adds to a statement. A dashboard's read
//! of the long metric table (as a hospital-scoped analyst: one row filter) and two reads of
//! patients (as an analyst: PHI masks, a keyed hash, a join and a subquery) are planned,
//! then policed, `--iterations` times each; the figures are the planning time and the
//! rewrite's own time, median and p95, in microseconds. The tables are empty: the rewrite
//! works on the plan, whose shape and not whose data sets its cost.

use std::sync::Arc;
use std::time::Instant;

use anyhow::{Context, Result};
use deltalake::arrow::datatypes::{DataType, Field, Schema, TimeUnit};
use deltalake::datafusion::datasource::MemTable;
use deltalake::datafusion::prelude::{SessionConfig, SessionContext};
use medlake_catalog::Catalog;
use medlake_serve::governance::{Governance, GovernanceOptions};
use medlake_serve::{Principal, Role};

/// Settings of the policy benchmark.
#[derive(Debug, Clone, clap::Args)]
pub struct PolicyArgs {
    /// Times each statement is planned and policed.
    #[arg(long, default_value_t = 2000)]
    pub iterations: usize,
}

const SCOPED: &str = r#"
[[policy]]
id = "everyone-reads"
principals = ["*"]
tables = ["*"]
access = "allow"

[[policy]]
id = "scoped-metric-rows"
principals = ["group:hospital_scoped"]
tables = ["ads_metric_value"]
row_filter = "dimension = 'hospital' AND dimension_value IN (${user.hospitals})"

[[policy]]
id = "id-numbers-hashed"
principals = ["*"]
tables = ["*"]
columns = ["id_card_no"]
mask = "hash"
"#;

fn utf8(name: &str) -> Field {
    Field::new(name, DataType::Utf8, true)
}

fn tables() -> Vec<(&'static str, Schema)> {
    vec![
        (
            "ads_metric_value",
            Schema::new(vec![
                utf8("measure"),
                utf8("dimension"),
                utf8("dimension_value"),
                utf8("dimension_label"),
                Field::new("window_days", DataType::Int64, true),
                Field::new("value", DataType::Float64, true),
                utf8("dt"),
            ]),
        ),
        (
            "ods_patient_full",
            Schema::new(vec![
                Field::new("id", DataType::Int64, false),
                Field::new("user_id", DataType::Int64, false),
                utf8("name"),
                Field::new("gender", DataType::Int32, true),
                Field::new("birthday", DataType::Date32, true),
                utf8("id_card_no"),
                Field::new(
                    "create_time",
                    DataType::Timestamp(TimeUnit::Microsecond, None),
                    true,
                ),
                utf8("dt"),
            ]),
        ),
    ]
}

const STATEMENTS: &[(&str, &str)] = &[
    (
        "dashboard read, row filter",
        "SELECT measure, dimension, dimension_value, dimension_label, dt, value \
         FROM ads_metric_value WHERE dt >= '2026-01-01' AND dt <= '2026-01-30' \
         AND window_days = 7 AND measure IN ('total_paid_amount', 'consultations_paid') \
         AND ((dimension = 'hospital' AND dimension_value = '3') \
              OR (dt = '2026-01-30' AND dimension IN ('hospital', 'province')))",
    ),
    (
        "SELECT * of patients, 3 masks",
        "SELECT * FROM ods_patient_full",
    ),
    (
        "join + subquery, 6 masked scans",
        "SELECT p.name, q.id_card_no FROM ods_patient_full p \
         JOIN ods_patient_full q ON p.id_card_no = q.id_card_no \
         WHERE p.id IN (SELECT id FROM ods_patient_full WHERE birthday > DATE '1990-01-01')",
    ),
];

/// Runs the benchmark.
pub async fn run(args: &PolicyArgs) -> Result<()> {
    let config = SessionConfig::new().with_default_catalog_and_schema("medlake", "public");
    let ctx = SessionContext::new_with_config(config);
    for (name, schema) in tables() {
        let table = MemTable::try_new(Arc::new(schema), vec![vec![]])?;
        ctx.register_table(name, Arc::new(table))?;
    }
    let catalog = Arc::new(Catalog::open_in_memory()?);
    let governance = Governance::open(catalog.clone(), &GovernanceOptions::default(), &ctx)?;
    governance.store(SCOPED, "bench", None)?;
    catalog.create_account(&medlake_catalog::NewAccount {
        name: "scoped",
        role: "analyst",
        password_hash: "-",
        scram_salt: b"-",
        scram_salted_password: b"-",
    })?;
    catalog.set_account_attribute("scoped", "groups", &["hospital_scoped".into()])?;
    catalog.set_account_attribute("scoped", "hospitals", &["3".into(), "7".into()])?;
    let who = Principal {
        name: "scoped".into(),
        role: Role::Analyst,
    };
    println!(
        "medlake-bench policy: {} iterations per statement",
        args.iterations
    );
    crate::machine::print_machine();
    println!(
        "{:<36} {:>12} {:>12} {:>14} {:>14}",
        "statement", "plan p50 µs", "plan p95 µs", "policy p50 µs", "policy p95 µs"
    );
    for (label, sql) in STATEMENTS {
        let state = ctx.state();
        let (mut plan_us, mut police_us) = (Vec::new(), Vec::new());
        for _ in 0..args.iterations {
            let started = Instant::now();
            let plan = state.create_logical_plan(sql).await?;
            plan_us.push(started.elapsed().as_secs_f64() * 1e6);
            let started = Instant::now();
            let (_, applied) = governance
                .police(plan, &who, &state)
                .map_err(|(why, _)| anyhow::anyhow!(why))
                .with_context(|| label.to_string())?;
            police_us.push(started.elapsed().as_secs_f64() * 1e6);
            anyhow::ensure!(applied.restricted, "{label}: no policy applied");
        }
        println!(
            "{label:<36} {:>12.0} {:>12.0} {:>14.0} {:>14.0}",
            quantile(&mut plan_us, 0.5),
            quantile(&mut plan_us, 0.95),
            quantile(&mut police_us, 0.5),
            quantile(&mut police_us, 0.95)
        );
    }
    Ok(())
}

fn quantile(values: &mut [f64], q: f64) -> f64 {
    values.sort_by(f64::total_cmp);
    let i = ((values.len() as f64 - 1.0) * q).round() as usize;
    values.get(i).copied().unwrap_or_default()
}
