//! Quality: a bad partition never reaches a report. Each fault the simulator injects is
//! caught by the check named for it; an `error` check keeps every `ads_*` table the fault
//! would reach at its previous version (no partition of the faulty day), and the run
//! history names the check that stopped the build. Clean days raise nothing.

use std::collections::{BTreeMap, BTreeSet};

use chrono::NaiveDate;
use deltalake::datafusion::prelude::SessionContext;
use medlake_catalog::{CheckFilter, CheckStatus};
use medlake_quality::blocks;
use medlake_sim::Faults;
use medlake_warehouse::{BuildOptions, StepOutcome};

use crate::common::Platform;

/// Each fault kind, in the order the days get them, with the check that must catch it and
/// the table it checks. Faults that linger into the next day (an orphan doctor's
/// consultation changes again; a payment that never reached the lake stays missing) come
/// last, so every day's own fault is the one its check is asked about.
const FAULTS: [(&str, &str); 8] = [
    ("volume_drop", "dwd_consultation_placed.volume"),
    (
        "duplicate_payments",
        "dwd_consultation_paid.unique_consultation_id",
    ),
    (
        "unknown_status",
        "ods_consultation_inc.accepted_values_data_status",
    ),
    ("clock_skew", "ods_consultation_inc.created_before_updated"),
    ("null_amounts", "ods_payment_inc.payable_complete"),
    (
        "negative_amounts",
        "ods_payment_inc.range_data_payment_amount",
    ),
    (
        "orphan_doctors",
        "ods_consultation_inc.relationships_data_doctor_id",
    ),
    ("late_arriving", "ods_payment_inc.reconcile_source"),
];

/// The Delta version of every `ads_*` table.
async fn ads_versions(platform: &Platform) -> BTreeMap<String, Option<u64>> {
    let mut out = BTreeMap::new();
    for step in platform.project.steps.iter().filter(|s| s.layer == "ads") {
        let table = platform.lake.load(&step.name).await.unwrap();
        out.insert(step.name.clone(), table.and_then(|t| t.version()));
    }
    out
}

async fn rows_in_partition(platform: &Platform, table: &str, dt: NaiveDate) -> i64 {
    let ctx = SessionContext::new();
    platform.lake.register(&ctx, table).await.unwrap();
    if !ctx.table_exist(table).unwrap() {
        return 0;
    }
    let batches = ctx
        .sql(&format!("SELECT count(*) FROM {table} WHERE dt = '{dt}'"))
        .await
        .unwrap()
        .collect()
        .await
        .unwrap();
    batches[0]
        .column(0)
        .as_any()
        .downcast_ref::<deltalake::arrow::array::Int64Array>()
        .unwrap()
        .value(0)
}

/// The `ads_*` steps a failing table reaches: its readers' descendants (an ODS table) or
/// its own (a model).
fn reached_ads(platform: &Platform, table: &str) -> BTreeSet<String> {
    let project = &platform.project;
    let mut start: BTreeSet<String> = project
        .steps
        .iter()
        .filter(|s| s.name == table || s.sources.contains(table))
        .map(|s| s.name.clone())
        .collect();
    start = project.with_descendants(&start);
    start
        .into_iter()
        .filter(|s| project.step(s).is_some_and(|s| s.layer == "ads"))
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn every_fault_is_caught_by_its_check_and_kept_out_of_the_reports() {
    let mut platform = Platform::new(11, 0.003, "2026-06-01");
    // Clean days: every check passes (no false alarm), and `volume` gets its baseline.
    for _ in 0..4 {
        let day = platform.simulate_day().await;
        platform.sync_reconciled(day).await;
        platform.build(day).await;
        let results = platform
            .catalog
            .check_results(&CheckFilter {
                dt: Some(day),
                latest: true,
                ..CheckFilter::default()
            })
            .unwrap();
        assert!(
            results.len() > 20,
            "{day}: only {} checks ran",
            results.len()
        );
        let alarms: Vec<String> = results
            .iter()
            .filter(|r| blocks(r))
            .map(medlake_quality::describe)
            .collect();
        assert!(alarms.is_empty(), "{day} is clean but: {alarms:?}");
    }

    for (fault, check) in FAULTS {
        let faults = Faults::parse(fault, 0.05, Vec::new()).unwrap();
        let day = platform.simulate_day_with(&faults).await;
        platform.sync_reconciled(day).await;
        let before = ads_versions(&platform).await;
        let report = platform
            .build_with(&platform.project, day, &BuildOptions::default())
            .await;

        let results = platform
            .catalog
            .check_results(&CheckFilter {
                dt: Some(day),
                check_id: Some(check.to_string()),
                latest: true,
                ..CheckFilter::default()
            })
            .unwrap();
        let result = results
            .first()
            .unwrap_or_else(|| panic!("{fault} on {day}: {check} has no result"));
        assert_eq!(
            result.status,
            CheckStatus::Fail,
            "{fault} on {day}: {check} did not catch it: {}",
            medlake_quality::describe(result)
        );
        assert!(
            result.failing_rows > 0 || result.observed.is_some(),
            "{fault}: {check} failed without saying what it saw"
        );
        // Failing rows are sampled by their keys: ids, never other values.
        assert!(
            result
                .sample
                .iter()
                .all(|k| k.split('|').all(|p| p.parse::<i64>().is_ok())),
            "{fault}: samples are not keys: {:?}",
            result.sample
        );

        let table = check.split_once('.').unwrap().0;
        let reached = reached_ads(&platform, table);
        assert!(!reached.is_empty(), "{table} reaches no ads table");
        let after = ads_versions(&platform).await;
        for ads in &reached {
            assert_eq!(
                before.get(ads),
                after.get(ads),
                "{fault}: {ads} was written on {day} though {check} failed"
            );
            assert_eq!(
                rows_in_partition(&platform, ads, day).await,
                0,
                "{fault}: {ads} has rows of {day}"
            );
            let run = report.steps.iter().find(|s| &s.name == ads).unwrap();
            assert!(
                matches!(run.outcome, StepOutcome::Skipped(_)),
                "{fault}: {ads} was not skipped: {:?}",
                run.outcome
            );
        }
        // The run history names the check that stopped the build.
        let runs = platform.catalog.recent_runs(500).unwrap();
        let named = runs.iter().any(|r| {
            r.dt == Some(day)
                && matches!(
                    r.outcome,
                    medlake_catalog::Outcome::Failed | medlake_catalog::Outcome::Skipped
                )
                && r.message.as_deref().is_some_and(|m| m.contains(check))
        });
        assert!(named, "{fault}: no run of {day} names {check}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn skip_checks_publishes_and_says_so() {
    let mut platform = Platform::new(12, 0.003, "2026-07-01");
    let faults = Faults::parse("negative_amounts", 0.05, Vec::new()).unwrap();
    let day = platform.simulate_day_with(&faults).await;
    platform.sync(day, true, true).await;
    let report = platform
        .build_with(
            &platform.project,
            day,
            &BuildOptions {
                skip_checks: true,
                ..BuildOptions::default()
            },
        )
        .await;
    assert!(
        report.succeeded(),
        "with --skip-checks the faulty day builds"
    );
    assert!(rows_in_partition(&platform, "ads_trade_overview", day).await > 0);
    let runs = platform.catalog.recent_runs(200).unwrap();
    let build_runs: Vec<_> = runs
        .iter()
        .filter(|r| r.kind == medlake_catalog::RunKind::Build && r.dt == Some(day))
        .collect();
    assert!(!build_runs.is_empty());
    assert!(
        build_runs
            .iter()
            .all(|r| r.message.as_deref() == Some("published without checks (--skip-checks)")),
        "every build run says the checks were skipped"
    );
    let results = platform
        .catalog
        .check_results(&CheckFilter {
            dt: Some(day),
            ..CheckFilter::default()
        })
        .unwrap();
    assert!(results.is_empty(), "no check ran: {}", results.len());
}
