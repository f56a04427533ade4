//! Lineage of a built lake: every model column and metric instance leads to business
//! columns (or is a constant); chosen columns match lineage worked out by hand from the
//! SQL; `medlake lineage` answers impact questions up to the dashboards; the build's
//! OpenLineage events validate against the official schema, pair up, and reach a real
//! HTTP receiver, a failing step emitting FAIL.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::time::Duration;

use medlake_lineage::{FieldRef, LineageGraph, NodeKind};

use crate::common::{days, python, Sandbox};
use crate::serve::Served;

/// The JSON-lines file the shared fixture's syncs and builds write their events to.
pub(crate) const EVENTS_FILE: &str = "openlineage.jsonl";

/// The official OpenLineage schemas scripts/services.sh fetched.
fn spec_dir() -> String {
    std::env::var("MEDLAKE_TEST_OPENLINEAGE_SPEC").unwrap_or_else(|_| {
        panic!("MEDLAKE_TEST_OPENLINEAGE_SPEC is not set: run the tests through scripts/test.sh")
    })
}

fn script(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../scripts/openlineage")
        .join(name)
}

/// The lineage graph the sandbox's builds recorded.
fn graph(sandbox: &Sandbox) -> LineageGraph {
    let catalog = medlake_catalog::Catalog::open(&sandbox.dir.path().join("catalog.db")).unwrap();
    let project = medlake_warehouse::Project::builtin().unwrap();
    let (graph, recorded) =
        medlake_serve::lineage_graph::platform_graph(&catalog, &project, None).unwrap();
    assert!(recorded > 30, "only {recorded} steps recorded lineage");
    graph
}

pub(crate) fn lineage_of_the_built_lake(s: &Served) {
    let g = graph(&s.sandbox);
    every_column_and_instance_reaches_the_business(&g);
    chosen_columns_match_their_hand_made_lineage(&g);
    impact_of_a_business_column_reaches_the_trade_dashboard(s);
    the_builds_events_validate_and_pair_up(s);
}

fn every_column_and_instance_reaches_the_business(g: &LineageGraph) {
    let mut unresolved = Vec::new();
    let mut checked = 0;
    for d in g.datasets() {
        let kind = medlake_lineage::kind_of(&d.dataset);
        if d.dataset.starts_with("ods_") || kind == NodeKind::Dashboard {
            continue;
        }
        for c in &d.columns {
            checked += 1;
            let field = FieldRef::new(d.dataset.clone(), c.name.clone());
            if g.business_origins(&field).is_empty() && !declared_constant(g, &field) {
                unresolved.push(field.to_string());
            }
        }
    }
    assert!(
        checked > 1000,
        "only {checked} columns and instances walked"
    );
    assert!(
        unresolved.is_empty(),
        "{} columns lead to no business column: {unresolved:?}",
        unresolved.len()
    );
}

/// A declared constant: every column its value is made from (itself included) that reads
/// nothing is declared so: in its model's header (`constant = [...]`), in the metric
/// catalog (names and windows), or as capture's change-event metadata. Anything else that
/// reads nothing would be lineage gone missing.
fn declared_constant(g: &LineageGraph, field: &FieldRef) -> bool {
    let project = medlake_warehouse::Project::builtin().unwrap();
    let in_header = |f: &FieldRef| {
        let declaration = project.step(&f.dataset).and_then(|s| s.declaration());
        declaration.is_some_and(|d| d.constant.contains(&f.field))
    };
    let declared = |f: &FieldRef| {
        in_header(f)
            || match f.dataset.as_str() {
                "ads_metric_value" => {
                    ["metric", "measure", "dimension", "window_days"].contains(&f.field.as_str())
                }
                "dws_metric_partial" => {
                    ["source", "dimension", "part", "combine"].contains(&f.field.as_str())
                }
                "ads_metric_catalog" => true,
                d if d.starts_with("ods_") => {
                    medlake_lineage::CHANGE_EVENT_FIELDS.contains(&f.field.as_str())
                        || f.field == medlake_lineage::CHANGE_EXTRA_FIELD
                        || (d.ends_with("_full") && f.field == "dt")
                }
                _ => false,
            }
    };
    let walk = g.walk(
        std::slice::from_ref(field),
        medlake_lineage::Direction::Upstream,
        None,
        true,
    );
    std::iter::once(field)
        .chain(walk.reached.iter().map(|r| &r.field))
        .filter(|f| g.inputs_of(f).is_empty())
        .all(declared)
}

/// The business columns `target` comes from through DIRECT edges only (its value).
fn direct_business(g: &LineageGraph, target: &str) -> BTreeSet<String> {
    let start = g.resolve(target).unwrap();
    g.walk(&start, medlake_lineage::Direction::Upstream, None, true)
        .reached
        .into_iter()
        .filter(|r| r.kind == NodeKind::Business)
        .map(|r| r.field.to_string())
        .collect()
}

fn set(items: &[&str]) -> BTreeSet<String> {
    items.iter().map(|s| s.to_string()).collect()
}

fn chosen_columns_match_their_hand_made_lineage(g: &LineageGraph) {
    // dwd_consultation_paid: `data['payment_amount'] AS amount` of ods_payment_inc.
    assert_eq!(
        direct_business(g, "dwd_consultation_paid.amount"),
        set(&["payment.payment_amount"])
    );
    // The capture: a change record's field is its business column as it is.
    let inc = g.inputs_of(&FieldRef::new("ods_payment_inc", "data.payment_amount"));
    let from = &inc[&FieldRef::new("payment", "payment_amount")];
    assert!(
        from.contains(&medlake_lineage::Subtype::Identity),
        "{from:?}"
    );
    // A measure is the aggregate of its source's columns, down to the business.
    assert_eq!(
        direct_business(g, "metric:consultation_paid_amount"),
        set(&["payment.payment_amount"])
    );
    // pay_conversion_rate = paid / placed consultations: counts, so its value reads no
    // business value directly, but payments and consultations shape its rows.
    let start = g.resolve("metric:pay_conversion_rate").unwrap();
    let all = g.business_origins(&start[0]);
    for shaping in ["payment.status", "consultation.create_time"] {
        assert!(
            all.contains(&FieldRef::new(
                shaping.split('.').next().unwrap(),
                shaping.split('.').nth(1).unwrap()
            )),
            "{shaping} missing from {all:?}"
        );
    }
}

fn impact_of_a_business_column_reaches_the_trade_dashboard(s: &Served) {
    let out = s
        .sandbox
        .run(&["lineage", "payment.payment_amount", "--downstream"]);
    let text = String::from_utf8_lossy(&out.stdout);
    for expected in [
        "ods_payment_inc.data.payment_amount",
        "dwd_consultation_paid.amount",
        "metric:consultation_paid_amount.value",
        "dashboard:trade.headline.consultation_paid_amount",
        "dashboard:trade.headline.total_paid_amount",
        "dashboard:trade.breakdown.total_paid_amount.province",
    ] {
        assert!(text.contains(expected), "{expected} missing from:\n{text}");
    }
    let json = s.sandbox.run(&[
        "lineage",
        "metric:pay_conversion_rate",
        "--upstream",
        "--format",
        "json",
    ]);
    let walk: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
    let nodes = walk["nodes"].as_array().unwrap();
    assert!(nodes.iter().any(|n| n["kind"] == "business"), "{walk}");
    assert!(walk["edges"]
        .as_array()
        .unwrap()
        .iter()
        .any(|e| e["transformations"][0]["type"] == "INDIRECT"));
    let refused = s
        .sandbox
        .command(&["lineage", "payment.no_such_column"])
        .output()
        .unwrap();
    assert!(!refused.status.success());
    let err = String::from_utf8_lossy(&refused.stderr);
    assert!(err.contains("payment has no column"), "{err}");
}

/// Runs validate.py over a JSON-lines file; returns its report.
fn validate(file: &Path, extra: &[&str]) -> (bool, String) {
    let out = Command::new(python())
        .arg(script("validate.py"))
        .arg(spec_dir())
        .arg(file)
        .args(extra)
        .output()
        .expect("python runs");
    let report = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), report)
}

fn events(file: &Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(file)
        .unwrap()
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

fn the_builds_events_validate_and_pair_up(s: &Served) {
    let file = s.sandbox.dir.path().join(EVENTS_FILE);
    let (ok, report) = validate(&file, &[]);
    assert!(ok, "{report}");
    let all = events(&file);
    let complete = |job: &str| {
        all.iter()
            .filter(|e| e["eventType"] == "COMPLETE" && e["job"]["name"] == job)
            .count()
    };
    assert_eq!(complete("build"), 2, "one COMPLETE per built day");
    assert_eq!(complete("sync"), 2, "one COMPLETE per synced day");
    assert_eq!(complete("build.dwd_consultation_paid"), 2);
    let step = all
        .iter()
        .find(|e| e["eventType"] == "COMPLETE" && e["job"]["name"] == "build.dwd_consultation_paid")
        .unwrap();
    let output = &step["outputs"][0];
    let amount = &output["facets"]["columnLineage"]["fields"]["amount"]["inputFields"][0];
    assert_eq!(amount["name"], "ods_payment_inc");
    assert_eq!(amount["field"], "data.payment_amount");
    assert!(
        output["outputFacets"]["outputStatistics"]["rowCount"]
            .as_u64()
            .unwrap()
            > 0
    );
    assert!(step["run"]["facets"]["parent"]["run"]["runId"].is_string());
}

/// The receiver of scripts/openlineage, answering 503 to its first `fail_first` posts.
struct Receiver {
    child: Child,
    url: String,
    events: PathBuf,
}

impl Drop for Receiver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn receiver(dir: &Path, fail_first: u32) -> Receiver {
    let port_file = dir.join("receiver.port");
    let events = dir.join("received.jsonl");
    // Owned by the Receiver at once, so it is killed and waited for however the test ends.
    let mut receiver = Receiver {
        child: Command::new(python())
            .arg(script("receiver.py"))
            .args([
                spec_dir().as_str(),
                port_file.to_str().unwrap(),
                events.to_str().unwrap(),
            ])
            .args(["--fail-first", &fail_first.to_string()])
            .spawn()
            .expect("python runs"),
        url: String::new(),
        events,
    };
    for _ in 0..100 {
        if let Ok(port) = std::fs::read_to_string(&port_file) {
            if !port.trim().is_empty() {
                receiver.url = format!("http://127.0.0.1:{}", port.trim());
                return receiver;
            }
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("the OpenLineage receiver did not start");
}

#[test]
fn events_reach_an_http_receiver_through_retries_and_a_failing_step_emits_fail() {
    let sandbox = Sandbox::sqlite();
    let start = "2026-03-01";
    sandbox.run(&[
        "simulate", "--days", "1", "--scale", "0.002", "--seed", "3", "--start", start,
    ]);
    let day = &days(start, 1)[0];
    let models = sandbox.dir.path().join("models");
    sandbox.run(&["models", "--export", models.to_str().unwrap()]);
    let broken = models.join("dws/dws_hospital_1d.sql");
    let sql = std::fs::read_to_string(&broken).unwrap();
    std::fs::write(
        &broken,
        format!("{sql}\n-- broken on purpose\nLIMIT no_such_column"),
    )
    .unwrap();
    let rx = receiver(sandbox.dir.path(), 2);
    let env = [
        ("MEDLAKE_LINEAGE_OPENLINEAGE_URL", rx.url.as_str()),
        ("MEDLAKE_WAREHOUSE_MODELS", models.to_str().unwrap()),
    ];
    sandbox.run_env(&["sync", "--day", day, "--no-reconcile"], &env);
    let build = sandbox
        .command(&["build", "--day", day])
        .envs(env)
        .output()
        .unwrap();
    assert!(!build.status.success(), "the broken model fails the build");
    let received = events(&rx.events);
    assert!(
        received.iter().all(|e| e.get("invalid").is_none()),
        "the receiver refused an event: {received:?}"
    );
    let (ok, report) = validate(&rx.events, &[]);
    assert!(ok, "{report}");
    let of = |job: &str, kind: &str| {
        received
            .iter()
            .filter(|e| e["job"]["name"] == job && e["eventType"] == kind)
            .collect::<Vec<_>>()
    };
    let failed = of("build.dws_hospital_1d", "FAIL");
    assert_eq!(failed.len(), 1, "one FAIL for the broken step");
    let message = failed[0]["run"]["facets"]["errorMessage"]["message"]
        .as_str()
        .unwrap();
    assert!(message.contains("dws_hospital_1d"), "{message}");
    assert_eq!(of("build", "FAIL").len(), 1, "the day's build fails");
    assert_eq!(
        of("sync", "COMPLETE").len(),
        1,
        "the sync went through the retries"
    );
    assert!(of("build.dwd_consultation_paid", "COMPLETE").len() == 1);
    // A step skipped because its input failed never started.
    assert!(of("build.dws_hospital_nd", "START").is_empty());
}

/// The events `medlake cdc --once` wrote to `file` over `runs` runs: valid against the
/// official schemas, paired, and each COMPLETE naming the change-record tables it landed
/// with their column lineage from the business tables.
pub(crate) fn capture_runs_send_valid_events(file: &Path, runs: usize) {
    let (ok, report) = validate(file, &[]);
    assert!(ok, "{report}");
    let all = events(file);
    let complete: Vec<_> = all
        .iter()
        .filter(|e| e["job"]["name"] == "capture" && e["eventType"] == "COMPLETE")
        .collect();
    assert_eq!(complete.len(), runs, "one COMPLETE per capture run");
    let payments = complete[0]["outputs"]
        .as_array()
        .unwrap()
        .iter()
        .find(|o| o["name"] == "ods_payment_inc")
        .expect("the payments' change records are an output");
    let amount = &payments["facets"]["columnLineage"]["fields"]["data.payment_amount"];
    assert_eq!(amount["inputFields"][0]["name"], "payment", "{amount}");
    assert_eq!(
        amount["inputFields"][0]["field"], "payment_amount",
        "{amount}"
    );
}
