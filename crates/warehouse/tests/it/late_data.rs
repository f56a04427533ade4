//! Late data: changes captured a day late land in their own event day, and rebuilding that
//! day (and the days whose windows cover it) corrects the metrics.

use std::collections::BTreeMap;

use crate::common::oracle::Oracle;
use crate::common::Platform;
use deltalake::datafusion::prelude::SessionContext;
use medlake_warehouse::metric_values;

/// Measures of the consultation-finished event: with capture by query, a consultation that
/// finished on the missed day and moved on (prescription, review) the next day is seen only
/// in its later state, so these can only be exact with binlog capture.
const NEEDS_EVERY_STATE: [&str; 4] = [
    "consultation_finished_count",
    "median_paid_to_finished_minutes",
    "prescription_rate",
    "active_doctors",
];

async fn rows_in_partition(platform: &Platform, table: &str, dt: &str) -> i64 {
    let ctx = SessionContext::new();
    platform.lake.register(&ctx, table).await.unwrap();
    let batch = &ctx
        .sql(&format!(
            "SELECT count(*) AS n FROM {table} WHERE dt = '{dt}'"
        ))
        .await
        .unwrap()
        .collect()
        .await
        .unwrap()[0];
    batch
        .column(0)
        .as_any()
        .downcast_ref::<deltalake::arrow::array::Int64Array>()
        .unwrap()
        .value(0)
}

fn mismatches(
    platform: &Platform,
    oracle: &Oracle,
    day: chrono::NaiveDate,
    values: &[medlake_warehouse::MetricValue],
) -> Vec<String> {
    let mut got: BTreeMap<(&str, &str), f64> = BTreeMap::new();
    for v in values {
        got.insert((&v.metric, &v.dimension_value), v.value);
    }
    let mut out = Vec::new();
    for i in platform.project.metrics.instances() {
        if NEEDS_EVERY_STATE.contains(&i.measure.as_str()) {
            continue;
        }
        let want = oracle.values(&i.measure, &i.dimension, i.window_days, day);
        let have: BTreeMap<&str, f64> = got
            .iter()
            .filter(|((m, _), _)| *m == i.name)
            .map(|((_, k), v)| (*k, *v))
            .collect();
        let want_ref: BTreeMap<&str, f64> = want.iter().map(|(k, v)| (k.as_str(), *v)).collect();
        let same = have.len() == want_ref.len()
            && have.iter().all(|(k, v)| {
                want_ref
                    .get(k)
                    .is_some_and(|w| (v - w).abs() <= 1e-9 * v.abs().max(1.0))
            });
        if !same {
            out.push(i.name.clone());
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread")]
async fn a_day_captured_late_is_corrected_by_rebuilding_it() {
    let mut platform = Platform::new(5, 0.003, "2026-05-01");
    let mut oracle = Oracle::default();
    let day1 = platform.simulate_day().await;
    oracle.observe_day(&platform.business_db(), day1);
    platform.sync(day1, true, true).await;
    platform.build(day1).await;

    // Day 2: the snapshots run, but change capture is down all day.
    let day2 = platform.simulate_day().await;
    oracle.observe_day(&platform.business_db(), day2);
    platform.sync(day2, true, false).await;
    platform.build(day2).await;
    let stale = metric_values(&platform.lake, day2).await.unwrap();
    assert!(
        !mismatches(&platform, &oracle, day2, &stale).is_empty(),
        "day 2 built without its changes matched the business; the test proves nothing"
    );
    assert_eq!(
        rows_in_partition(&platform, "ods_consultation_inc", &day2.to_string()).await,
        0
    );

    // Day 3: capture is back and picks up day 2's changes too.
    let day3 = platform.simulate_day().await;
    oracle.observe_day(&platform.business_db(), day3);
    platform.sync(day3, true, true).await;
    assert!(
        rows_in_partition(&platform, "ods_consultation_inc", &day2.to_string()).await > 0,
        "changes of day 2 captured on day 3 did not land in day 2's partition"
    );
    platform.build(day3).await;

    // Rebuild the late day, then the day whose windows cover it.
    platform.build(day2).await;
    platform.build(day3).await;
    for day in [day2, day3] {
        let values = metric_values(&platform.lake, day).await.unwrap();
        let wrong = mismatches(&platform, &oracle, day, &values);
        assert!(
            wrong.is_empty(),
            "{day}: after the rebuild {} instances still differ: {:?}",
            wrong.len(),
            &wrong[..wrong.len().min(10)]
        );
    }
}
