//! Simulates a few days into a SQLite file:
//! `cargo run -p medlake-sim --release --example simulate_sqlite -- /tmp/b.db 0.01 7 [seed]`.

use medlake_sim::{simulate, BusinessWriter, Faults, Progress, SimParams, Target};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let target = Target::parse(args.get(1).map_or("business.db", String::as_str))?;
    let scale: f64 = args.get(2).map_or(Ok(0.01), |s| s.parse())?;
    let days: u32 = args.get(3).map_or(Ok(7), |s| s.parse())?;
    let seed: u64 = args.get(4).map_or(Ok(42), |s| s.parse())?;
    let start = chrono::NaiveDate::from_ymd_opt(2026, 3, 1).ok_or("bad date")?;
    let params = SimParams { seed, scale, start };
    let mut writer = BusinessWriter::open(&target).await?;
    let t = std::time::Instant::now();
    let state = simulate(&mut writer, &params, days, &Faults::none(), |p| {
        if let Progress::UnitDone(stats) = p {
            println!(
                "{:?}: {} txns, {} rows",
                stats.unit,
                stats.txns,
                stats.tables.rows()
            );
        }
    })
    .await?;
    writer.close().await?;
    println!(
        "{} days done in {:.1}s",
        state.days_done,
        t.elapsed().as_secs_f64()
    );
    Ok(())
}
