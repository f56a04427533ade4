//! `medlake check`: run the quality checks of existing partitions without building, list
//! every declared check, or show a check's history.

use anyhow::{bail, Context, Result};
use chrono::NaiveDate;
use medlake_catalog::{Catalog, CheckFilter, CheckRecord, CheckStatus, Outcome, RunKind};
use medlake_lake::Lake;
use medlake_quality::{blocks, describe, Auditor, Partition, QualityRules};
use medlake_warehouse::Project;

use crate::config::Config;
use crate::progress;

/// What to check.
#[derive(Debug, Clone, clap::Args)]
pub struct CheckArgs {
    /// Business day whose partitions to check.
    #[arg(long, value_name = "YYYY-MM-DD", required_unless_present_any = ["list", "history"])]
    pub day: Option<NaiveDate>,
    /// Only this table's checks.
    #[arg(long, value_name = "TABLE")]
    pub table: Option<String>,
    /// List every declared check (table, name, kind, severity) and exit.
    #[arg(long, conflicts_with_all = ["day", "history"])]
    pub list: bool,
    /// Show the recorded results of one check (`table.name`), newest first.
    #[arg(long, value_name = "CHECK", conflicts_with = "day")]
    pub history: Option<String>,
    /// Results shown with --history.
    #[arg(long, default_value_t = 30)]
    pub limit: usize,
}

/// Runs `medlake check`; fails when an `error` check failed.
pub async fn run(config: &Config, args: &CheckArgs, quiet: bool) -> Result<()> {
    let project = config.project()?;
    let rules = &project.quality;
    if let Some(table) = &args.table {
        if rules.table(table).is_none() {
            bail!("{table} has no declared checks (see `medlake check --list`)");
        }
    }
    if args.list {
        print_list(rules, args.table.as_deref());
        return Ok(());
    }
    let catalog = config.open_catalog()?;
    if let Some(check) = &args.history {
        return print_history(&catalog, rules, check, args.limit);
    }
    let Some(day) = args.day else {
        bail!("give --day, --list or --history");
    };
    let lake = Lake::open(&config.lake.url, config.lake_options()).context("lake")?;
    let DayCheck { results, missing } =
        check_day(&lake, &catalog, &project, day, args.table.as_deref(), quiet).await?;
    if !results.is_empty() {
        medlake_quality::publish_results(&lake, &catalog, day)
            .await
            .context("writing dq_check_result")?;
    }
    let blocking = results.iter().filter(|r| blocks(r)).count();
    let warned = results
        .iter()
        .filter(|r| !blocks(r) && r.status != CheckStatus::Pass)
        .count();
    println!(
        "{day}: {} checks, {} passed, {warned} warned, {blocking} failed",
        results.len(),
        results
            .iter()
            .filter(|r| r.status == CheckStatus::Pass)
            .count()
    );
    if blocking > 0 {
        bail!("{blocking} error-level check(s) failed on {day} (see above)");
    }
    if !missing.is_empty() {
        bail!(
            "{} table(s) with checks have no partition of {day} or could not be read: {}",
            missing.len(),
            missing.join(", ")
        );
    }
    Ok(())
}

/// Whether the newest build of `table` for `day` succeeded and wrote no rows.
fn built_empty(catalog: &Catalog, table: &str, day: NaiveDate) -> Result<bool> {
    Ok(catalog
        .newest_run(RunKind::Build, table, day)?
        .is_some_and(|r| r.outcome == Outcome::Succeeded && r.rows == 0))
}

/// Audits partition `day` of every table with checks (or only `table`), recording each
/// table's audit as a `check` run, and prints one line per check.
async fn check_day(
    lake: &Lake,
    catalog: &Catalog,
    project: &Project,
    day: NaiveDate,
    only: Option<&str>,
    quiet: bool,
) -> Result<DayCheck> {
    let rules = &project.quality;
    let auditor = Auditor::new(lake, catalog, rules);
    let tables: Vec<&str> = rules
        .tables()
        .map(|(t, _)| t)
        .filter(|t| only.is_none_or(|o| o == *t))
        .collect();
    let bar = progress::steps_bar(tables.len() as u64, "check", quiet);
    let mut all = Vec::new();
    let mut missing = Vec::new();
    for table in tables {
        bar.set_message(table.to_string());
        let phi = project
            .step(table)
            .and_then(|s| s.declaration())
            .map(|d| d.phi.clone())
            .unwrap_or_default();
        let run = catalog.start_run(RunKind::Check, table, Some(day))?;
        let audit = match auditor
            .audit(table, day, Partition::Published, &phi, Some(run))
            .await
        {
            Ok(audit) => audit,
            Err(e) => {
                let message = format!("could not check: {e}");
                catalog.finish_run(run, Outcome::Failed, 0, 0, Some(&message))?;
                bar.suspend(|| println!("{table}: {message}"));
                bar.inc(1);
                missing.push(table.to_string());
                continue;
            }
        };
        let rows = audit.rows();
        if rows == 0 && built_empty(catalog, table, day)? {
            // A day with no rows to keep (no critical finding fell due, say): the build
            // succeeded and published nothing; there is nothing to check and nothing hidden.
            catalog.finish_run(run, Outcome::Succeeded, 0, 0, Some("built empty"))?;
            bar.suspend(|| println!("{table}: no rows on {day} (built empty)"));
            bar.inc(1);
            continue;
        }
        if rows == 0 {
            // Nothing published for the day: checks of no rows would pass and hide what a
            // build's gate found; say so instead, and record nothing.
            let message =
                format!("no partition of {day} (not built, or kept out by a failed check)");
            catalog.finish_run(run, Outcome::Failed, 0, 0, Some(&message))?;
            bar.suspend(|| println!("{table}: {message}"));
            bar.inc(1);
            missing.push(table.to_string());
            continue;
        }
        auditor.record_check_run(run, &audit)?;
        bar.suspend(|| print_table(table, rows, &audit.results));
        bar.inc(1);
        all.extend(audit.results);
    }
    bar.finish_and_clear();
    Ok(DayCheck {
        results: all,
        missing,
    })
}

/// What `medlake check --day` found.
struct DayCheck {
    /// Every result recorded.
    results: Vec<CheckRecord>,
    /// Tables with checks that have no rows for the day, or could not be read.
    missing: Vec<String>,
}

fn print_table(table: &str, rows: u64, results: &[CheckRecord]) {
    println!("{table} ({rows} rows)");
    for r in results {
        let status = match r.status {
            CheckStatus::Pass => "pass",
            CheckStatus::Warn => "WARN",
            CheckStatus::Fail => "FAIL",
            CheckStatus::Error => "ERROR",
        };
        let line = match r.status {
            CheckStatus::Pass => format!("{} ({})", r.check_id, r.expected),
            _ => describe(r),
        };
        let sample = if r.sample.is_empty() {
            String::new()
        } else {
            format!(" [keys: {}]", r.sample.join(", "))
        };
        let note = r
            .message
            .as_deref()
            .filter(|_| r.status == CheckStatus::Pass)
            .map(|m| format!(" ({m})"))
            .unwrap_or_default();
        println!("  {status:<5} {line}{sample}{note}");
    }
}

fn print_list(rules: &QualityRules, only: Option<&str>) {
    println!(
        "{:<52} {:<16} {:<8} description",
        "check", "kind", "severity"
    );
    for check in rules.checks().filter(|c| only.is_none_or(|t| t == c.table)) {
        println!(
            "{:<52} {:<16} {:<8} {}",
            check.id,
            check.kind.name(),
            check.severity.as_str(),
            check.description.as_deref().unwrap_or("")
        );
    }
}

/// A check's results, newest first. A check no declaration names may still have results
/// (a sync's `<table>.reconcile_source`, a check since removed).
fn print_history(catalog: &Catalog, rules: &QualityRules, check: &str, limit: usize) -> Result<()> {
    let results = catalog.check_results(&CheckFilter {
        check_id: Some(check.to_string()),
        limit,
        ..CheckFilter::default()
    })?;
    if results.is_empty() {
        if rules.check(check).is_none() {
            bail!("no check is named {check:?} (see `medlake check --list`)");
        }
        println!("{check} has no recorded results yet");
        return Ok(());
    }
    println!(
        "{:<10} {:<6} {:>12} {:>8}  expected",
        "day", "status", "observed", "failing"
    );
    for r in results {
        println!(
            "{:<10} {:<6} {:>12} {:>8}  {}",
            r.dt,
            r.status.as_str(),
            r.observed.map_or("-".to_string(), |o| format!("{o:.4}")),
            r.failing_rows,
            r.expected
        );
    }
    Ok(())
}
