//! The integration tests of medlake-bench: the benchmarks run and report what they measured.

use std::process::{Command, Output};

use deltalake::arrow::util::display::array_value_to_string;
use deltalake::datafusion::prelude::SessionContext;

fn bench(args: &[&str]) -> Output {
    let out = Command::new(env!("CARGO_BIN_EXE_medlake-bench"))
        .args(args)
        .output()
        .expect("medlake-bench starts");
    assert!(
        out.status.success(),
        "medlake-bench {args:?} failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

#[test]
fn every_benchmark_has_help() {
    for args in [&["--help"][..], &["cdc", "--help"]] {
        let out = String::from_utf8_lossy(&bench(args).stdout).to_string();
        assert!(out.contains("Usage: medlake-bench"), "{args:?}: {out}");
    }
}

/// The warehouse benchmark builds each day in a process of its own and reads back its
/// figures: both days appear with the rows their builds wrote, and both are in the lake.
#[tokio::test(flavor = "multi_thread")]
async fn the_warehouse_benchmark_builds_each_day_in_a_fresh_process() {
    let temp = tempfile::tempdir().unwrap();
    let dir = temp.path().join("bench");
    let out = bench(&[
        "--warehouse",
        "--scale",
        "0.003",
        "--days",
        "2",
        "--dir",
        dir.to_str().unwrap(),
    ]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    for day in ["2026-01-05", "2026-01-06"] {
        let row = stdout
            .lines()
            .find(|l| l.starts_with(&format!("| {day} |")))
            .unwrap_or_else(|| panic!("no figures for {day}:\n{stdout}"));
        let rows_written: u64 = row.split('|').nth(4).unwrap().trim().parse().unwrap();
        assert!(rows_written > 0, "{row}");
    }
    assert!(stdout.contains("day 1 build"), "{stdout}");
    assert!(stdout.contains("| ads_metric_value |"), "{stdout}");

    let lake =
        medlake_lake::Lake::open(dir.join("lake").to_str().unwrap(), Default::default()).unwrap();
    let ctx = SessionContext::new();
    lake.register(&ctx, "ads_metric_value").await.unwrap();
    let batches = ctx
        .sql("SELECT DISTINCT CAST(dt AS VARCHAR) AS dt FROM ads_metric_value ORDER BY dt")
        .await
        .unwrap()
        .collect()
        .await
        .unwrap();
    let built: Vec<String> = batches
        .iter()
        .flat_map(|b| {
            (0..b.num_rows())
                .map(|i| array_value_to_string(b.column(0), i).unwrap())
                .collect::<Vec<_>>()
        })
        .collect();
    assert_eq!(built, ["2026-01-05", "2026-01-06"]);
}
