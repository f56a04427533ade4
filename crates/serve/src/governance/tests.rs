//! The rewrite over real plans and rows: a session with a patients table and a metric
//! table in memory, policed statements run to their rows. (The adversarial suite over the
//! server's HTTP and PostgreSQL paths is `crates/cli/tests/it/governance.rs`.)

use std::sync::Arc;

use deltalake::arrow::array::{Date32Array, Int64Array, RecordBatch, StringArray};
use deltalake::arrow::datatypes::{DataType, Field, Schema};
use deltalake::arrow::util::pretty::pretty_format_batches;
use deltalake::datafusion::datasource::MemTable;
use deltalake::datafusion::prelude::{SessionConfig, SessionContext};
use medlake_catalog::{Catalog, NewAccount};

use super::{Governance, GovernanceOptions};
use crate::accounts::{Principal, Role};

const ID: &str = "110101199003074512";
const NAME: &str = "张三丰";

fn session() -> SessionContext {
    let config = SessionConfig::new()
        .with_information_schema(true)
        .with_default_catalog_and_schema("medlake", "public");
    let ctx = SessionContext::new_with_config(config);
    let patients = Schema::new(vec![
        Field::new("id", DataType::Int64, false),
        Field::new("name", DataType::Utf8, false),
        Field::new("birthday", DataType::Date32, false),
        Field::new("id_card_no", DataType::Utf8, false),
        Field::new("hospital_id", DataType::Int64, false),
    ]);
    let batch = RecordBatch::try_new(
        Arc::new(patients.clone()),
        vec![
            Arc::new(Int64Array::from(vec![1, 2])),
            Arc::new(StringArray::from(vec![NAME, "Li Lei"])),
            Arc::new(Date32Array::from(vec![7370, 8000])),
            Arc::new(StringArray::from(vec![ID, "310101198001010011"])),
            Arc::new(Int64Array::from(vec![3, 9])),
        ],
    )
    .unwrap();
    let table = MemTable::try_new(Arc::new(patients), vec![vec![batch]]).unwrap();
    ctx.register_table("ods_patient_full", Arc::new(table))
        .unwrap();
    ctx
}

fn governed(ctx: &SessionContext, extra: &str) -> (Governance, Arc<Catalog>) {
    let catalog = Arc::new(Catalog::open_in_memory().unwrap());
    let governance = Governance::open(catalog.clone(), &GovernanceOptions::default(), ctx).unwrap();
    if !extra.is_empty() {
        let body = format!("{}\n{extra}", super::policy::BUILTIN);
        governance.store(&body, "test", None).unwrap();
    }
    for (name, role) in [("wang", "analyst"), ("li", "analyst"), ("board", "viewer")] {
        catalog
            .create_account(&NewAccount {
                name,
                role,
                password_hash: "-",
                scram_salt: b"-",
                scram_salted_password: b"-",
            })
            .unwrap();
    }
    (governance, catalog)
}

fn who(name: &str, role: Role) -> Principal {
    Principal {
        name: name.into(),
        role,
    }
}

/// The policed rows of `sql` as a table, or the refusal.
async fn rows(
    ctx: &SessionContext,
    g: &Governance,
    who: &Principal,
    sql: &str,
) -> Result<String, String> {
    let state = ctx.state();
    let plan = state
        .create_logical_plan(sql)
        .await
        .map_err(|e| e.to_string())?;
    let (plan, _) = g.police(plan, who, &state).map_err(|(why, _)| why)?;
    let batches = ctx
        .execute_logical_plan(plan)
        .await
        .map_err(|e| e.to_string())?
        .collect()
        .await
        .map_err(|e| e.to_string())?;
    Ok(pretty_format_batches(&batches).unwrap().to_string())
}

#[tokio::test]
async fn phi_is_masked_through_every_shape_of_statement() {
    let ctx = session();
    let (g, _) = governed(&ctx, "");
    let wang = who("wang", Role::Analyst);
    for sql in [
        "SELECT * FROM ods_patient_full",
        "SELECT name AS n, id_card_no AS i, CAST(birthday AS VARCHAR) FROM ods_patient_full",
        "WITH p AS (SELECT * FROM ods_patient_full) SELECT * FROM p",
        "SELECT (SELECT max(name) FROM ods_patient_full), (SELECT min(id_card_no) FROM ods_patient_full)",
        "SELECT name FROM ods_patient_full UNION SELECT id_card_no FROM ods_patient_full",
        "SELECT string_agg(name, ',') OVER () FROM ods_patient_full",
        "SELECT count(*) FROM ods_patient_full WHERE id_card_no = '110101199003074512'",
        "SELECT id FROM ods_patient_full WHERE name LIKE '张%'",
    ] {
        let out = rows(&ctx, &g, &wang, sql).await.unwrap();
        assert!(!out.contains(NAME) && !out.contains(ID) && !out.contains("1990-03-07"), "{sql}:\n{out}");
        assert!(!out.contains("Li Lei") && !out.contains("310101"), "{sql}:\n{out}");
    }
    let all = rows(
        &ctx,
        &g,
        &wang,
        "SELECT name, birthday FROM ods_patient_full ORDER BY id",
    )
    .await
    .unwrap();
    assert!(
        all.contains("xxx") && all.contains("Xx Xxx") && all.contains("1990-01-01"),
        "{all}"
    );
    let found = rows(
        &ctx,
        &g,
        &wang,
        "SELECT count(*) AS c FROM ods_patient_full WHERE name LIKE '张%'",
    )
    .await
    .unwrap();
    assert!(
        found.contains("| 0 |"),
        "a predicate reads the masked value: {found}"
    );
}

#[tokio::test]
async fn a_phi_reader_sees_phi_and_it_is_recorded() {
    let ctx = session();
    let (g, catalog) = governed(&ctx, "");
    catalog
        .set_account_attribute("li", "roles", &["phi_reader".into()])
        .unwrap();
    let li = who("li", Role::Analyst);
    let out = rows(
        &ctx,
        &g,
        &li,
        "SELECT name, id_card_no FROM ods_patient_full",
    )
    .await
    .unwrap();
    assert!(out.contains(NAME) && out.contains(ID), "{out}");
    let state = ctx.state();
    let plan = state
        .create_logical_plan("SELECT name FROM ods_patient_full")
        .await
        .unwrap();
    let (_, applied) = g.police(plan, &li, &state).unwrap();
    assert!(applied.phi_unmasked);
    assert!(applied
        .policies
        .iter()
        .any(|p| p.starts_with("unmasked:phi-readers-see-phi@")));
}

#[tokio::test]
async fn row_filters_use_the_askers_attributes_and_fail_closed() {
    let ctx = session();
    let filter = r#"
[[policy]]
id = "scoped"
principals = ["user:wang"]
tables = ["ods_patient_full"]
row_filter = "hospital_id IN (${user.hospitals})"
"#;
    let (g, catalog) = governed(&ctx, filter);
    let wang = who("wang", Role::Analyst);
    let refused = rows(&ctx, &g, &wang, "SELECT * FROM ods_patient_full")
        .await
        .unwrap_err();
    assert!(
        refused.contains("needs the attribute hospitals"),
        "{refused}"
    );
    catalog
        .set_account_attribute("wang", "hospitals", &["3".into()])
        .unwrap();
    for sql in [
        "SELECT count(*) AS c FROM ods_patient_full",
        "SELECT count(*) AS c FROM ods_patient_full WHERE hospital_id = 9 OR true",
        "SELECT count(*) AS c FROM (SELECT * FROM ods_patient_full) t",
    ] {
        let out = rows(&ctx, &g, &wang, sql).await.unwrap();
        assert!(out.contains("| 1 |"), "{sql}: {out}");
    }
    // Li has no filter: both rows.
    let out = rows(
        &ctx,
        &g,
        &who("li", Role::Analyst),
        "SELECT count(*) AS c FROM ods_patient_full",
    )
    .await
    .unwrap();
    assert!(out.contains("| 2 |"), "{out}");
}

#[tokio::test]
async fn viewers_read_reports_only_and_deny_wins() {
    let ctx = session();
    let deny = r#"
[[policy]]
id = "no-patients-for-li"
principals = ["user:li"]
tables = ["ods_patient_*"]
access = "deny"
"#;
    let (g, _) = governed(&ctx, deny);
    let viewer = rows(
        &ctx,
        &g,
        &who("board", Role::Viewer),
        "SELECT 1 FROM ods_patient_full",
    )
    .await
    .unwrap_err();
    assert!(
        viewer.contains("no policy lets board read ods_patient_full"),
        "{viewer}"
    );
    let li = rows(
        &ctx,
        &g,
        &who("li", Role::Analyst),
        "SELECT 1 FROM ods_patient_full",
    )
    .await
    .unwrap_err();
    assert!(li.contains("policy no-patients-for-li denies"), "{li}");
    assert!(!g.may_read(&who("board", Role::Viewer), "ods_patient_full"));
    assert!(!g.may_read(&who("li", Role::Analyst), "ods_patient_full"));
    assert!(g.may_read(&who("wang", Role::Analyst), "ods_patient_full"));
    let system = rows(
        &ctx,
        &g,
        &who("board", Role::Viewer),
        "SELECT count(*) FROM information_schema.tables",
    )
    .await;
    assert!(system.is_ok(), "{system:?}");
}

#[tokio::test]
async fn a_mask_a_type_does_not_take_refuses_the_statement() {
    let ctx = session();
    let bad = r#"
[[policy]]
id = "redact-ids"
principals = ["*"]
tables = ["ods_patient_full"]
columns = ["hospital_id"]
mask = "redact"
"#;
    let (g, _) = governed(&ctx, bad);
    let refused = rows(
        &ctx,
        &g,
        &who("wang", Role::Analyst),
        "SELECT id FROM ods_patient_full",
    )
    .await
    .unwrap_err();
    assert!(refused.contains("mask redact applies to text"), "{refused}");
}
