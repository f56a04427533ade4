//! A capture stopped between any two steps of a batch resumes with nothing lost and
//! nothing doubled: the lake's own commit marker decides whether the batch landed.

use medlake_catalog::Catalog;
use medlake_ingest::{inc_sync_table, CrashPoint, IncSyncOptions, NoProgress};
use medlake_lake::Lake;
use medlake_sim::{BusinessWriter, SimParams, Target};

/// A SQLite business database in `dir` with its first day (2026-04-01) simulated.
pub(crate) async fn business_db(dir: &std::path::Path) -> String {
    let url = format!("sqlite://{}", dir.join("business.db").display());
    simulate_more(&url, 1).await;
    url
}

/// Simulates `days` more days into the business database at `url`.
pub(crate) async fn simulate_more(url: &str, days: u32) {
    let params = SimParams {
        seed: 3,
        scale: 0.002,
        start: chrono::NaiveDate::from_ymd_opt(2026, 4, 1).unwrap(),
    };
    let mut writer = BusinessWriter::open(&Target::parse(url).unwrap())
        .await
        .unwrap();
    medlake_sim::simulate(
        &mut writer,
        &params,
        days,
        &medlake_sim::Faults::none(),
        |_| {},
    )
    .await
    .unwrap();
}

async fn lake_counts(lake: &Lake, name: &str) -> (i64, i64) {
    let ctx = deltalake::datafusion::prelude::SessionContext::new();
    lake.register(&ctx, name).await.unwrap();
    let sql = format!(
        "SELECT count(*), count(DISTINCT concat(CAST(get_field(data, 'id') AS VARCHAR), '@', \
         CAST(get_field(data, 'update_time') AS VARCHAR))) FROM {name}"
    );
    let batch = &ctx.sql(&sql).await.unwrap().collect().await.unwrap()[0];
    let get = |i: usize| {
        deltalake::arrow::compute::cast(
            batch.column(i),
            &deltalake::arrow::datatypes::DataType::Int64,
        )
        .unwrap()
        .as_any()
        .downcast_ref::<deltalake::arrow::array::Int64Array>()
        .unwrap()
        .value(0)
    };
    (get(0), get(1))
}

#[tokio::test(flavor = "multi_thread")]
async fn crash_before_or_after_the_lake_commit_is_mended() {
    for point in [CrashPoint::BeforeLakeCommit, CrashPoint::AfterLakeCommit] {
        let dir = tempfile::tempdir().unwrap();
        let url = business_db(dir.path()).await;
        let source = medlake_source::open(&url).unwrap();
        let lake = Lake::open(
            dir.path().join("lake").to_str().unwrap(),
            Default::default(),
        )
        .unwrap();
        let catalog = Catalog::open(&dir.path().join("catalog.db")).unwrap();
        let table = medlake_schema::table("payment").unwrap();
        let total = source.fingerprint(table, None).await.unwrap().rows as i64;
        let batch_rows = usize::try_from(total / 5).unwrap().max(1);

        let crashing = IncSyncOptions {
            batch_rows,
            until: None,
            crash_at: Some((point, 3)),
        };
        let err = inc_sync_table(
            source.as_ref(),
            &lake,
            &catalog,
            table,
            crashing,
            &NoProgress,
        )
        .await;
        assert!(
            err.is_err(),
            "{point:?}: the injected crash did not stop the capture"
        );
        assert!(
            catalog.capture_state("payment").unwrap().pending.is_some(),
            "{point:?}: no pending batch left"
        );

        let resumed = IncSyncOptions {
            batch_rows,
            until: None,
            crash_at: None,
        };
        inc_sync_table(
            source.as_ref(),
            &lake,
            &catalog,
            table,
            resumed,
            &NoProgress,
        )
        .await
        .unwrap();
        let (records, distinct) = lake_counts(&lake, "ods_payment_inc").await;
        assert_eq!(records, distinct, "{point:?}: a change was recorded twice");
        assert_eq!(
            records, total,
            "{point:?}: the bootstrap must hold every payment exactly once"
        );
        assert!(catalog.capture_state("payment").unwrap().pending.is_none());
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_catalog_from_another_lake_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let url = business_db(dir.path()).await;
    let source = medlake_source::open(&url).unwrap();
    let lake = Lake::open(
        dir.path().join("lake").to_str().unwrap(),
        Default::default(),
    )
    .unwrap();
    let table = medlake_schema::table("user").unwrap();
    let catalog = Catalog::open(&dir.path().join("catalog.db")).unwrap();
    inc_sync_table(
        source.as_ref(),
        &lake,
        &catalog,
        table,
        IncSyncOptions::default(),
        &NoProgress,
    )
    .await
    .unwrap();
    let fresh = Catalog::open(&dir.path().join("other-catalog.db")).unwrap();
    let err = inc_sync_table(
        source.as_ref(),
        &lake,
        &fresh,
        table,
        IncSyncOptions::default(),
        &NoProgress,
    )
    .await
    .unwrap_err()
    .to_string();
    assert!(
        err.contains("catalog does not belong to this lake"),
        "{err}"
    );
}
