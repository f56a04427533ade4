//! A failing model stops its descendants; every table stays readable at its last good
//! state, and its run records say what happened. Storage failures are retried, SQL errors
//! are not (the same SQL fails the same way again).

use crate::common::Platform;
use medlake_catalog::Outcome;
use medlake_warehouse::{metric_values, BuildOptions, Project, StepOutcome};

#[tokio::test(flavor = "multi_thread")]
async fn a_failed_model_stops_its_descendants_and_leaves_tables_at_their_last_good_state() {
    let mut platform = Platform::new(7, 0.002, "2026-06-01");
    let day = platform.simulate_day().await;
    platform.sync(day, true, true).await;
    platform.build(day).await;
    let good = metric_values(&platform.lake, day).await.unwrap();
    assert!(!good.is_empty());

    // A project whose review model now reads a column that does not exist.
    let folder = platform.dir.path().join("models");
    Project::export_builtin(&folder).unwrap();
    let review = folder.join("dwd/dwd_review.sql");
    let sql = std::fs::read_to_string(&review).unwrap();
    std::fs::write(
        &review,
        sql.replace("data['rating'] AS rating", "data['stars'] AS rating"),
    )
    .unwrap();
    let broken = Project::load(&folder).unwrap();

    let options = BuildOptions {
        retries: 1,
        retry_backoff: std::time::Duration::from_millis(10),
        ..Default::default()
    };
    let report = platform.build_with(&broken, day, &options).await;
    let outcome = |name: &str| {
        report
            .steps
            .iter()
            .find(|s| s.name == name)
            .unwrap_or_else(|| panic!("no run of {name}"))
            .clone()
    };
    let review_run = outcome("dwd_review");
    assert!(
        matches!(review_run.outcome, StepOutcome::Failed(_)),
        "{review_run:?}"
    );
    assert_eq!(
        review_run.attempts, 1,
        "a SQL error is permanent: no retry although one was allowed"
    );
    for downstream in [
        "dws_consultation_1d",
        "dws_review_first_1d",
        "dws_metric_partial",
        "ads_metric_value",
        "ads_trade_overview",
    ] {
        assert!(
            matches!(outcome(downstream).outcome, StepOutcome::Skipped(_)),
            "{downstream} ran although dwd_review failed"
        );
    }
    for independent in [
        "dim_doctor",
        "dwd_consultation_paid",
        "dws_medicine_1d",
        "ads_metric_catalog",
    ] {
        assert_eq!(
            outcome(independent).outcome,
            StepOutcome::Succeeded,
            "{independent}"
        );
    }
    assert!(!report.succeeded());

    // The metric table still holds the last good build of the day.
    assert_eq!(metric_values(&platform.lake, day).await.unwrap(), good);

    let runs = platform.catalog.recent_runs(200).unwrap();
    let last = |target: &str| {
        runs.iter()
            .find(|r| r.kind == medlake_catalog::RunKind::Build && r.target == target)
            .unwrap()
    };
    assert_eq!(last("dwd_review").outcome, Outcome::Failed);
    assert!(last("dwd_review")
        .message
        .as_deref()
        .unwrap_or("")
        .contains("dwd_review"));
    assert_eq!(last("ads_metric_value").outcome, Outcome::Skipped);
    assert_eq!(last("dim_doctor").outcome, Outcome::Succeeded);
    assert!(last("dim_doctor").rows > 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_model_reading_an_unsynced_day_fails_with_a_clear_message() {
    let mut platform = Platform::new(7, 0.002, "2026-06-01");
    let day = platform.simulate_day().await;
    platform.sync(day, true, true).await;
    let next = day.succ_opt().unwrap();
    let report = platform
        .build_with(
            &platform.project,
            next,
            &BuildOptions {
                retries: 0,
                ..Default::default()
            },
        )
        .await;
    let step = |name: &str| {
        report
            .steps
            .iter()
            .find(|s| s.name == name)
            .unwrap()
            .outcome
            .clone()
    };
    match step("dim_hospital") {
        StepOutcome::Failed(m) => assert!(m.contains("no rows for") && m.contains("synced"), "{m}"),
        other => panic!("dim_hospital on an unsynced day: {other:?}"),
    }
    assert!(matches!(step("dim_doctor"), StepOutcome::Skipped(_)));
}

/// A model whose input files vanished from storage fails with an object-store error,
/// which may pass (an object store that lost a connection, a listing not yet consistent):
/// it is tried again up to the allowed retries.
#[tokio::test(flavor = "multi_thread")]
async fn a_storage_failure_is_retried_up_to_the_allowed_retries() {
    let mut platform = Platform::new(7, 0.002, "2026-06-01");
    let day = platform.simulate_day().await;
    platform.sync(day, true, true).await;
    platform.build(day).await;
    let removed = remove_parquet_files(&platform.dir.path().join("lake/ods_doctor_full"));
    assert!(removed > 0, "ods_doctor_full had no data files");

    let options = BuildOptions {
        retries: 2,
        retry_backoff: std::time::Duration::from_millis(10),
        only: Some(["dim_doctor".to_string()].into()),
        ..Default::default()
    };
    let report = platform.build_with(&platform.project, day, &options).await;
    let run = report
        .steps
        .iter()
        .find(|s| s.name == "dim_doctor")
        .unwrap();
    match &run.outcome {
        StepOutcome::Failed(m) => assert!(m.contains("dim_doctor"), "{m}"),
        other => panic!("dim_doctor without its input files: {other:?}"),
    }
    assert_eq!(
        run.attempts, 3,
        "a storage failure is tried 1 + 2 times: {:?}",
        run.outcome
    );
}

fn remove_parquet_files(dir: &std::path::Path) -> usize {
    let mut removed = 0;
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            removed += remove_parquet_files(&path);
        } else if path.extension().is_some_and(|e| e == "parquet") {
            std::fs::remove_file(&path).unwrap();
            removed += 1;
        }
    }
    removed
}
