//! `medlake build` from the command line: a build killed at random moments leaves every
//! table readable and whole (each partition old or new, never half), and a re-run gives
//! the same tables; listings and errors of the warehouse commands.

use std::collections::BTreeMap;

use crate::common::{days, row_strings, Sandbox};
use deltalake::datafusion::prelude::SessionContext;

const START: &str = "2026-03-01";

fn prepared(n_days: u32) -> (Sandbox, Vec<String>) {
    let sandbox = Sandbox::sqlite();
    sandbox.run(&[
        "simulate",
        "--days",
        &n_days.to_string(),
        "--scale",
        "0.003",
        "--seed",
        "9",
        "--start",
        START,
    ]);
    let all = days(START, n_days);
    for day in &all {
        sandbox.run(&["sync", "--day", day, "--no-reconcile"]);
    }
    (sandbox, all)
}

/// Every warehouse table's rows, sorted, by table. `dq_check_result` is left out: it
/// records each run of the checks (times, durations, run ids), which no two builds share.
async fn warehouse_contents(sandbox: &Sandbox) -> BTreeMap<String, Vec<String>> {
    let lake = sandbox.lake();
    let mut out = BTreeMap::new();
    for name in lake.table_names().await.unwrap() {
        if name.starts_with("ods_") || name == medlake_quality::CHECK_RESULT_TABLE {
            continue;
        }
        let ctx = SessionContext::new();
        lake.register(&ctx, &name).await.unwrap();
        let batches = ctx
            .sql(&format!("SELECT * FROM {name}"))
            .await
            .unwrap()
            .collect()
            .await
            .unwrap_or_else(|e| panic!("{name} is not readable: {e}"));
        let mut rows: Vec<String> = batches.iter().flat_map(row_strings).collect();
        rows.sort();
        out.insert(name, rows);
    }
    out
}

#[tokio::test(flavor = "multi_thread")]
async fn build_killed_at_random_moments_leaves_no_partial_partition() {
    let (sandbox, all) = prepared(2);
    let (first, last) = (all[0].as_str(), all[1].as_str());
    sandbox.run(&["build", "--from", first, "--to", last]);
    let reference = warehouse_contents(&sandbox).await;
    assert!(
        reference.len() >= 20,
        "only {} warehouse tables",
        reference.len()
    );
    assert!(reference["ads_metric_value"].len() > 1000);

    let mut rng: u64 = 0x2545_f491_4f6c_dd1d;
    let mut kills = 0;
    for _ in 0..8 {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        let delay = std::time::Duration::from_millis(100 + rng % 4000);
        let mut child = sandbox.spawn(&["build", "--from", first, "--to", last], &[]);
        std::thread::sleep(delay);
        if child.try_wait().unwrap().is_none() {
            child.kill().unwrap();
            kills += 1;
        }
        child.wait().unwrap();
        // Between the kill and any re-run, every partition is either the old or the new
        // build of the day, and both are the same.
        let now = warehouse_contents(&sandbox).await;
        for (table, rows) in &reference {
            assert!(now[table] == *rows, "{table} differs after a killed build");
        }
    }
    assert!(
        kills > 0,
        "no build was killed mid-way; the test proved nothing"
    );
    sandbox.run(&["build", "--from", first, "--to", last]);
    assert_eq!(warehouse_contents(&sandbox).await, reference);

    let runs = String::from_utf8(sandbox.run(&["runs", "--limit", "500"]).stdout).unwrap();
    assert!(
        runs.contains("dws_consultation_1d"),
        "build runs are not recorded:\n{runs}"
    );
}

#[test]
fn warehouse_commands_list_and_refuse_clearly() {
    let sandbox = Sandbox::sqlite();
    let out = sandbox.command(&["build"]).output().unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("no synced day found"), "{err}");
    assert_eq!(err.trim().lines().count(), 1, "{err}");

    let out = sandbox
        .command(&["build", "--day", "2026-03-01", "--models", "dwd_nope"])
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&out.stderr).contains("unknown model \"dwd_nope\""));

    let models = String::from_utf8(sandbox.run(&["models"]).stdout).unwrap();
    let paid = models
        .lines()
        .find(|l| l.contains("dwd_consultation_paid "))
        .unwrap();
    assert!(
        paid.contains("ods_payment_inc") && paid.contains("dim_doctor"),
        "{paid}"
    );

    let found = String::from_utf8(sandbox.run(&["metrics", "好评率"]).stdout).unwrap();
    assert!(found.contains("good_review_rate"), "{found}");
    let found = String::from_utf8(
        sandbox
            .run(&["metrics", "conversion", "--instances"])
            .stdout,
    )
    .unwrap();
    assert!(found.contains("pay_conversion_rate.hospital.7d"), "{found}");
    let out = sandbox
        .command(&["metrics", "no such thing"])
        .output()
        .unwrap();
    assert!(!out.status.success());
}
