//! Write throughput into SQLite at scale 1. Run with
//! `cargo test -p medlake-sim --release --test throughput -- --ignored --nocapture`.

mod common;

use std::time::Instant;

use medlake_sim::{simulate, BusinessWriter, Progress, Simulator, Target, UnitStats};

fn report(stats: &UnitStats, secs: f64) {
    let rows = stats.tables.rows();
    println!(
        "{:?}: {} txns, {rows} rows in {secs:.2}s = {:.0} rows/s",
        stats.unit,
        stats.txns,
        rows as f64 / secs
    );
    for (table, c) in stats.tables.iter() {
        println!(
            "  {table:<20} inserted {:>9} updated {:>9}",
            c.inserted, c.updated
        );
    }
}

#[tokio::test]
#[ignore = "slow: scale 1 in release mode"]
async fn sqlite_day_at_scale_one() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("sf1.db");
    let p = common::params(1, 1.0);

    let sim = Simulator::new(p).unwrap();
    let t = Instant::now();
    let n: usize = sim.day_txns(0).map(|t| t.changes.len()).sum();
    println!(
        "generating day 0 alone: {n} statements in {:.2}s",
        t.elapsed().as_secs_f64()
    );

    let mut w = BusinessWriter::open(&Target::Sqlite(path)).await.unwrap();
    let mut t = Instant::now();
    simulate(&mut w, &p, 2, |progress| {
        if let Progress::UnitDone(stats) = progress {
            report(stats, t.elapsed().as_secs_f64());
            t = Instant::now();
        }
    })
    .await
    .unwrap();
}

/// MySQL/MariaDB throughput at scale 0.05 (needs `MEDLAKE_SIM_TEST_MYSQL`, dropped after).
#[tokio::test]
#[ignore = "slow: needs a MySQL server"]
async fn mysql_day_at_scale_point_zero_five() {
    let Ok(url) = std::env::var("MEDLAKE_SIM_TEST_MYSQL") else {
        eprintln!("MEDLAKE_SIM_TEST_MYSQL not set; skipping");
        return;
    };
    let p = common::params(1, 0.05);
    let mut w = BusinessWriter::open(&Target::parse(&url).unwrap())
        .await
        .unwrap();
    let mut t = Instant::now();
    simulate(&mut w, &p, 1, |progress| {
        if let Progress::UnitDone(stats) = progress {
            report(stats, t.elapsed().as_secs_f64());
            t = Instant::now();
        }
    })
    .await
    .unwrap();
    w.close().await.unwrap();
    let db = mysql_async::Opts::from_url(&url)
        .unwrap()
        .db_name()
        .unwrap()
        .to_string();
    let mut conn = mysql_async::Conn::from_url(&url).await.unwrap();
    use mysql_async::prelude::Queryable;
    conn.query_drop(format!("DROP DATABASE IF EXISTS `{db}`"))
        .await
        .unwrap();
    conn.disconnect().await.unwrap();
}
