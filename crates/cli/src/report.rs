//! Printing what the lake and the catalog hold.

use medlake_catalog::{Outcome, RunRecord};
use medlake_lake::TableSummary;

/// Bytes as a short human figure (KiB, MiB, GiB).
pub fn human_bytes(bytes: u64) -> String {
    const UNITS: [&str; 4] = ["B", "KiB", "MiB", "GiB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit < UNITS.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{bytes} B")
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}

/// Prints one line per table (and per partition when `partitions`), with totals.
pub fn print_lake(tables: &[TableSummary], partitions: bool) {
    if tables.is_empty() {
        println!("the lake is empty (run `medlake sync`)");
        return;
    }
    println!(
        "{:<30} {:>8} {:>11} {:>12} {:>7}  days",
        "table", "version", "partitions", "rows", "bytes"
    );
    for t in tables {
        let days = match (t.partitions.first(), t.partitions.last()) {
            (Some(a), Some(b)) if a.dt != b.dt => format!("{} .. {}", a.dt, b.dt),
            (Some(a), _) => a.dt.clone(),
            _ => String::new(),
        };
        println!(
            "{:<30} {:>8} {:>11} {:>12} {:>7}  {days}",
            t.name,
            t.version,
            t.partitions.len(),
            t.rows(),
            human_bytes(t.bytes())
        );
        if partitions {
            for p in &t.partitions {
                println!(
                    "    dt={:<12} {:>5} files {:>12} rows {:>10}",
                    p.dt,
                    p.files,
                    p.rows,
                    human_bytes(p.bytes)
                );
            }
        }
    }
    let rows: u64 = tables.iter().map(TableSummary::rows).sum();
    let bytes: u64 = tables.iter().map(TableSummary::bytes).sum();
    let parts: usize = tables.iter().map(|t| t.partitions.len()).sum();
    println!(
        "{:<30} {:>8} {:>11} {:>12} {:>7}",
        format!("{} tables", tables.len()),
        "",
        parts,
        rows,
        human_bytes(bytes)
    );
}

/// Prints run records, newest first.
pub fn print_runs(runs: &[RunRecord]) {
    if runs.is_empty() {
        println!("no runs recorded yet");
        return;
    }
    println!(
        "{:>6}  {:<10} {:<28} {:<11} {:<20} {:>9} {:>10} {:>10}  outcome",
        "run", "kind", "target", "day", "started", "seconds", "rows", "bytes"
    );
    for r in runs {
        let seconds = r
            .ended
            .map(|e| format!("{:.2}", (e - r.started).num_milliseconds() as f64 / 1000.0))
            .unwrap_or_else(|| "-".into());
        let outcome = match r.outcome {
            Outcome::Succeeded => match &r.message {
                Some(warning) => format!("ok; {warning}"),
                None => "ok".to_string(),
            },
            Outcome::Running => "running/interrupted".to_string(),
            Outcome::Failed => format!("FAILED: {}", r.message.as_deref().unwrap_or("")),
            Outcome::Skipped => r.message.clone().unwrap_or_else(|| "skipped".into()),
        };
        println!(
            "{:>6}  {:<10} {:<28} {:<11} {:<20} {:>9} {:>10} {:>10}  {outcome}",
            r.id,
            r.kind,
            r.target,
            r.dt.map_or_else(|| "-".to_string(), |d| d.to_string()),
            r.started.format("%Y-%m-%d %H:%M:%S"),
            seconds,
            r.rows,
            human_bytes(r.bytes)
        );
    }
}

#[cfg(test)]
mod tests {
    use super::human_bytes;

    #[test]
    fn bytes_read_like_a_person_writes_them() {
        assert_eq!(human_bytes(512), "512 B");
        assert_eq!(human_bytes(1536), "1.5 KiB");
        assert_eq!(human_bytes(3 * 1024 * 1024 * 1024), "3.0 GiB");
    }
}
