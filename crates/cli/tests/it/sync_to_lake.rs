//! The lake equals the business database after syncing, table by table and id by id, and
//! stays so when a sync is killed at random moments and run again.

use crate::common;
use crate::common::{assert_lake_equals_source, days, Sandbox};

const START: &str = "2026-03-01";

fn simulate(sandbox: &Sandbox, n_days: u32) {
    sandbox.run(&[
        "simulate",
        "--days",
        &n_days.to_string(),
        "--scale",
        "0.003",
        "--seed",
        "7",
        "--start",
        START,
    ]);
}

#[tokio::test(flavor = "multi_thread")]
async fn synced_lake_equals_source_id_by_id() {
    let sandbox = Sandbox::sqlite();
    let all_days = days(START, 3);
    simulate(&sandbox, 3);
    for day in &all_days {
        sandbox.run(&["sync", "--day", day]);
    }
    assert_lake_equals_source(
        &sandbox.business_url,
        &sandbox.lake(),
        all_days.last().unwrap(),
    )
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn change_records_land_in_their_event_day() {
    let sandbox = Sandbox::sqlite();
    simulate(&sandbox, 2);
    let all_days = days(START, 2);
    for day in &all_days {
        sandbox.run(&["sync", "--day", day, "--only", "inc"]);
    }
    let ctx = deltalake::datafusion::prelude::SessionContext::new();
    let lake = sandbox.lake();
    lake.register(&ctx, "ods_payment_inc").await.unwrap();
    // Every stream record's partition is the local date of its update_time.
    let sql = "SELECT count(*) FROM ods_payment_inc WHERE type <> 'bootstrap-insert' \
               AND dt <> CAST(CAST(get_field(data, 'update_time') AS DATE) AS VARCHAR)";
    let batches = ctx.sql(sql).await.unwrap().collect().await.unwrap();
    let wrong = common::row_strings(&batches[0]);
    assert_eq!(wrong, vec!["0"], "records outside their event day");
    let sql = "SELECT count(*) FROM ods_payment_inc WHERE type = 'update'";
    let batches = ctx.sql(sql).await.unwrap().collect().await.unwrap();
    assert_ne!(
        common::row_strings(&batches[0]),
        vec!["0"],
        "day 2 captured no updates"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn sync_killed_at_random_moments_loses_and_doubles_nothing() {
    let sandbox = Sandbox::sqlite();
    simulate(&sandbox, 2);
    let all_days = days(START, 2);
    // Small batches make many commits, so kills land between every pair of steps.
    let envs = [
        ("MEDLAKE_SYNC_BATCH_ROWS", "97"),
        ("MEDLAKE_SYNC_CHUNK_IDS", "150"),
    ];
    let mut rng: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut kills = 0;
    for day in &all_days {
        for _ in 0..8 {
            rng ^= rng << 13;
            rng ^= rng >> 7;
            rng ^= rng << 17;
            let delay = std::time::Duration::from_millis(50 + rng % 1500);
            let mut child = sandbox.spawn(&["sync", "--day", day], &envs);
            std::thread::sleep(delay);
            if child.try_wait().unwrap().is_none() {
                child.kill().unwrap();
                kills += 1;
            }
            child.wait().unwrap();
        }
        let out = sandbox
            .command(&["sync", "--day", day])
            .envs(envs)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "final sync of {day} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    assert!(
        kills > 0,
        "no sync was killed mid-way; the test proved nothing"
    );
    assert_lake_equals_source(
        &sandbox.business_url,
        &sandbox.lake(),
        all_days.last().unwrap(),
    )
    .await;
}
