//! `medlake-bench alerts`: what the embedded monitor costs. A registry shaped like a busy
//! server's (`--tables` tables with their figures, a week of builds, failing checks, query
//! latency histograms per channel, captures) is snapshotted and every built-in rule is
//! evaluated over an hour of snapshots taken every 15 s, as `medlake serve` does; the
//! figures are the time of one round (snapshot + evaluation) and of one `/metrics` render,
//! median and p95, with the series a snapshot holds and the size of a scrape.

use std::time::Instant;

use anyhow::Result;
use chrono::{DateTime, NaiveDate, Utc};
use medlake_ops::alerts::engine::Engine;
use medlake_ops::alerts::rules::RuleSet;
use medlake_ops::figures::global;
use medlake_ops::figures::state::TableState;

/// Settings of the monitor benchmark.
#[derive(Debug, Clone, clap::Args)]
pub struct AlertsArgs {
    /// Evaluation rounds, 15 s apart in figure time (240: an hour, the history kept).
    #[arg(long, default_value_t = 480)]
    pub rounds: usize,
    /// Lake tables with figures.
    #[arg(long, default_value_t = 80)]
    pub tables: usize,
}

/// Runs the benchmark.
pub async fn run(args: &AlertsArgs) -> Result<()> {
    let figures = global();
    let day = NaiveDate::from_ymd_opt(2026, 3, 30).unwrap_or_default();
    let tables: Vec<TableState> = (0..args.tables)
        .map(|i| TableState {
            name: format!("table_{i:03}"),
            commit_age_seconds: Some(60.0 * i as f64),
            newest_partition: Some(day),
            freshness_bound_days: 1,
        })
        .collect();
    figures.state.sample_tables(&tables, day);
    for d in 0..7u64 {
        let label = (day - chrono::Days::new(d)).to_string();
        figures
            .state
            .build_failed
            .with_label_values(&[&label])
            .set(0.0);
        figures
            .state
            .build_seconds
            .with_label_values(&[&label])
            .set(600.0);
        figures
            .state
            .build_rows
            .with_label_values(&[&label])
            .set(1e6);
    }
    for c in 0..20 {
        let check = format!("table_{c:03}.check");
        let labels = [
            day.to_string(),
            format!("table_{c:03}"),
            check,
            "warn".to_string(),
        ];
        let labels: Vec<&str> = labels.iter().map(String::as_str).collect();
        figures
            .state
            .check_failed
            .with_label_values(&labels)
            .set(1.0);
    }
    figures
        .state
        .capture_lag_seconds
        .with_label_values(&["mysql://db/ -> lake"])
        .set(2.0);
    figures
        .state
        .db_up
        .with_label_values(&["mysql://db/"])
        .set(1.0);
    let mut engine = Engine::new(RuleSet::builtin());
    let start: DateTime<Utc> = Utc::now();
    let (mut rounds_us, mut render_us) = (Vec::new(), Vec::new());
    let (mut series, mut scrape_bytes, mut firing) = (0, 0, 0);
    for round in 0..args.rounds {
        // Fifteen seconds of traffic between rounds.
        for q in 0..300 {
            let channel = ["http", "pg", "dashboard"][q % 3];
            let seconds = 0.002 * (1 + (q * 7 + round) % 50) as f64;
            figures.query_finished(channel, "ok", seconds, false);
        }
        figures.login("http", round % 40 != 0);
        let now = start + chrono::Duration::seconds(15 * round as i64);
        let started = Instant::now();
        let snapshot = figures.snapshot(now.timestamp_millis());
        series = snapshot.samples.len();
        let evaluation = engine.evaluate(snapshot, now);
        rounds_us.push(started.elapsed().as_secs_f64() * 1e6);
        anyhow::ensure!(
            evaluation.errors.is_empty(),
            "rules failed: {:?}",
            evaluation.errors
        );
        firing = engine.active().count();
        let started = Instant::now();
        scrape_bytes = figures.render().len();
        render_us.push(started.elapsed().as_secs_f64() * 1e6);
    }
    println!(
        "medlake-bench alerts: {} rounds 15 s apart, {} built-in rules, {} tables",
        args.rounds,
        engine.rules().rules.len(),
        args.tables
    );
    crate::machine::print_machine();
    println!("series per snapshot: {series}; a scrape: {scrape_bytes} bytes; alerts active at the end: {firing}");
    println!(
        "round (snapshot + every rule over the last hour): p50 {:.0} µs, p95 {:.0} µs",
        quantile(&mut rounds_us, 0.5),
        quantile(&mut rounds_us, 0.95)
    );
    println!(
        "/metrics render: p50 {:.0} µs, p95 {:.0} µs",
        quantile(&mut render_us, 0.5),
        quantile(&mut render_us, 0.95)
    );
    Ok(())
}

fn quantile(values: &mut [f64], q: f64) -> f64 {
    values.sort_by(f64::total_cmp);
    let i = ((values.len() as f64 - 1.0) * q).round() as usize;
    values.get(i).copied().unwrap_or(0.0)
}
