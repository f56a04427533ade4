//! Every metric instance, on every day of a 30-day simulation, equals the independent
//! computation made straight from the business database (tests/it/common/oracle.rs); and a
//! day rebuilt gives byte-for-byte the same values. A business with days of history before
//! its first sync is verified from its first built day on, "first ever" measures included.

use std::collections::BTreeMap;

use crate::common::oracle::Oracle;
use crate::common::Platform;
use chrono::NaiveDate;
use medlake_warehouse::{metric_values, MetricValue};

const DAYS: u32 = 30;

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() <= 1e-9 * a.abs().max(b.abs()).max(1.0)
}

/// Compares every instance of `day`; returns (instances with values, values compared).
fn compare_day(
    platform: &Platform,
    oracle: &Oracle,
    day: NaiveDate,
    lake: &[MetricValue],
) -> (usize, usize) {
    compare_measures(platform, oracle, day, lake, |_| true)
}

/// As [`compare_day`], for the instances of the measures `wanted` keeps.
fn compare_measures(
    platform: &Platform,
    oracle: &Oracle,
    day: NaiveDate,
    lake: &[MetricValue],
    wanted: impl Fn(&str) -> bool,
) -> (usize, usize) {
    let mut by_metric: BTreeMap<&str, BTreeMap<&str, f64>> = BTreeMap::new();
    for v in lake {
        by_metric
            .entry(&v.metric)
            .or_default()
            .insert(&v.dimension_value, v.value);
    }
    let mut problems = Vec::new();
    let (mut with_values, mut compared) = (0, 0);
    for instance in platform.project.metrics.instances() {
        if !wanted(&instance.measure) {
            continue;
        }
        let expected = oracle.values(
            &instance.measure,
            &instance.dimension,
            instance.window_days,
            day,
        );
        let empty = BTreeMap::new();
        let got = by_metric.get(instance.name.as_str()).unwrap_or(&empty);
        if !expected.is_empty() {
            with_values += 1;
        }
        for (key, want) in &expected {
            compared += 1;
            match got.get(key.as_str()) {
                Some(have) if close(*have, *want) => {}
                Some(have) => problems.push(format!(
                    "{} [{key}]: warehouse {have}, business {want}",
                    instance.name
                )),
                None => problems.push(format!(
                    "{} [{key}]: missing in the warehouse, business {want}",
                    instance.name
                )),
            }
        }
        for key in got.keys().filter(|k| !expected.contains_key(**k)) {
            problems.push(format!(
                "{} [{key}]: warehouse {}, business has none",
                instance.name, got[key]
            ));
        }
    }
    assert!(
        problems.is_empty(),
        "{day}: {} metric values differ from the business database, e.g.\n{}",
        problems.len(),
        problems
            .iter()
            .take(25)
            .cloned()
            .collect::<Vec<_>>()
            .join("\n")
    );
    (with_values, compared)
}

#[tokio::test(flavor = "multi_thread")]
async fn every_metric_of_every_day_equals_the_business_database() {
    let mut platform = Platform::new(11, 0.003, "2026-03-01");
    let catalog = &platform.project.metrics;
    let instances = catalog.instances();
    assert!(
        catalog.measures.len() >= 25,
        "only {} base measures",
        catalog.measures.len()
    );
    assert!(
        instances.len() >= 120,
        "only {} metric instances",
        instances.len()
    );
    let topics: std::collections::BTreeSet<&str> =
        catalog.measures.iter().map(|m| m.topic.as_str()).collect();
    for t in [
        "trade",
        "consultation",
        "doctor",
        "user",
        "review",
        "medicine",
        "imaging",
    ] {
        assert!(topics.contains(t), "no measure of topic {t}");
    }

    let mut oracle = Oracle::default();
    let mut ever_valued = std::collections::BTreeSet::new();
    let mut total_compared = 0;
    let mut last = None;
    for _ in 0..DAYS {
        let day = platform.simulate_day().await;
        oracle.observe_day(&platform.business_db(), day);
        platform.sync(day, true, true).await;
        platform.build(day).await;
        let values = metric_values(&platform.lake, day).await.unwrap();
        let (_, compared) = compare_day(&platform, &oracle, day, &values);
        total_compared += compared;
        ever_valued.extend(values.iter().map(|v| v.metric.clone()));
        last = Some((day, values));
    }
    // The comparison is only as good as its coverage: nearly every instance must have had
    // a value on some day, and thousands of values must have been compared.
    let valued = instances
        .iter()
        .filter(|i| ever_valued.contains(&i.name))
        .count();
    assert!(
        valued * 100 >= instances.len() * 95,
        "only {valued} of {} instances ever had a value",
        instances.len()
    );
    assert!(
        total_compared > 20_000,
        "only {total_compared} values compared"
    );

    // The partials hold one row per day, source, dimension value and part: a window merges
    // a few rows per day, never the facts themselves.
    let ctx = deltalake::datafusion::prelude::SessionContext::new();
    platform
        .lake
        .register(&ctx, medlake_warehouse::METRIC_PARTIAL_TABLE)
        .await
        .unwrap();
    let repeated = ctx
        .sql(
            "SELECT count(*) AS n FROM (SELECT dt, source, dimension, dimension_value, part, combine \
             FROM dws_metric_partial GROUP BY dt, source, dimension, dimension_value, part, combine \
             HAVING count(*) > 1) r",
        )
        .await
        .unwrap()
        .collect()
        .await
        .unwrap();
    let repeated = repeated[0]
        .column(0)
        .as_any()
        .downcast_ref::<deltalake::arrow::array::Int64Array>()
        .unwrap()
        .value(0);
    assert_eq!(repeated, 0, "partials repeated per dimension value");

    // Rebuilding a day gives byte-for-byte the same values.
    let (day, before) = last.unwrap();
    platform.build(day).await;
    let after = metric_values(&platform.lake, day).await.unwrap();
    assert_eq!(before.len(), after.len());
    for (a, b) in before.iter().zip(&after) {
        assert_eq!(
            (&a.metric, &a.dimension_value),
            (&b.metric, &b.dimension_value)
        );
        assert_eq!(
            a.value.to_bits(),
            b.value.to_bits(),
            "{} [{}] changed on rebuild",
            a.metric,
            a.dimension_value
        );
    }
}

/// A business that has run for days before medlake first captures it: the first sync
/// bootstraps its history, and from the first built day on every metric equals the oracle,
/// whose "first review ever" is over the whole business database, so reviewers of the
/// history days are not first-time reviewers when they review again.
#[tokio::test(flavor = "multi_thread")]
async fn a_business_with_history_is_verified_from_its_first_sync() {
    const HISTORY_DAYS: u32 = 4;
    const BUILT_DAYS: u32 = 8;
    let mut platform = Platform::new(13, 0.003, "2026-05-01");
    for _ in 0..HISTORY_DAYS {
        platform.simulate_day().await;
    }
    let mut oracle = Oracle::default();
    let mut first_built = None;
    let mut reviewers_compared = 0;
    for _ in 0..BUILT_DAYS {
        let day = platform.simulate_day().await;
        first_built.get_or_insert(day);
        oracle.observe_day(&platform.business_db(), day);
        platform.sync(day, true, true).await;
        platform.build(day).await;
        let values = metric_values(&platform.lake, day).await.unwrap();
        compare_day(&platform, &oracle, day, &values);
        reviewers_compared += values
            .iter()
            .filter(|v| v.metric.starts_with("first_time_reviewers."))
            .count();
    }
    let first_built = first_built.unwrap();
    assert!(
        oracle.first_reviews_before(first_built) > 100,
        "the history holds reviews (only {})",
        oracle.first_reviews_before(first_built)
    );
    assert!(reviewers_compared > 0, "first-time reviewers were compared");
}

/// The flow of a deployment that syncs once before it builds: the first sync bootstraps
/// a business with history on one day, and the warehouse is first built on the next. The
/// reviewers-to-date model's first build reads every earlier partition, the bootstrap
/// included, so first-time reviewers still equal the business database's first reviews.
#[tokio::test(flavor = "multi_thread")]
async fn first_time_reviewers_know_the_history_when_the_first_build_follows_the_first_sync() {
    let mut platform = Platform::new(17, 0.003, "2026-07-01");
    let mut synced_only = None;
    for _ in 0..4 {
        synced_only = Some(platform.simulate_day().await);
    }
    platform.sync(synced_only.unwrap(), true, true).await;
    let mut oracle = Oracle::default();
    let mut compared = 0;
    for _ in 0..5 {
        let day = platform.simulate_day().await;
        oracle.observe_day(&platform.business_db(), day);
        platform.sync(day, true, true).await;
        platform.build(day).await;
        let values = metric_values(&platform.lake, day).await.unwrap();
        let is_reviewers = |m: &str| m == "first_time_reviewers";
        compared += compare_measures(&platform, &oracle, day, &values, is_reviewers).1;
    }
    assert!(
        compared > 10,
        "only {compared} first-time reviewer values compared"
    );
}
