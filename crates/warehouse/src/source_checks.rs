//! The checks of the ODS tables a build reads, run before any step reads them.
//!
//! Sync and capture publish the ODS partitions; the warehouse is where their rows would
//! spread into every report. So before a day's steps run, each ODS table they read that
//! has checks (`quality.toml`) is audited as published, with a `check` run record; a table
//! whose `error` check fails stops every step that reads it (recorded as skipped, naming
//! the check), and so nothing of that day reaches the `ads_*` tables through it.

use std::collections::{BTreeMap, BTreeSet};

use chrono::NaiveDate;
use medlake_catalog::{Catalog, CheckFilter, Outcome, RunKind, SOURCE_RECONCILE_CHECK};
use medlake_lake::Lake;
use medlake_quality::{blocks, describe, Auditor, Partition, QualityRules};

use crate::error::WarehouseError;
use crate::project::Step;

/// What the audit of the sources found.
#[derive(Debug, Default)]
pub(crate) struct SourceAudits {
    /// Source tables whose checks block, with why.
    pub(crate) blocked: BTreeMap<String, String>,
    /// Seconds the audits took, summed (work: they run side by side).
    pub(crate) seconds: f64,
}

/// Audits partition `dt` of every source of `steps` that has checks.
pub(crate) async fn audit_sources(
    lake: &Lake,
    catalog: &Catalog,
    rules: &QualityRules,
    steps: &[&Step],
    dt: NaiveDate,
) -> Result<SourceAudits, WarehouseError> {
    let sources: BTreeSet<&str> = steps
        .iter()
        .flat_map(|s| s.sources.iter().map(String::as_str))
        .collect();
    let auditor = Auditor::new(lake, catalog, rules);
    let mut out = SourceAudits::default();
    for (table, lost) in failed_reconciliations(catalog, dt)? {
        if sources.contains(table.as_str()) {
            out.blocked.insert(table, lost);
        }
    }
    // The tables are independent: audited side by side (each reads its own partition).
    let audits = sources
        .into_iter()
        .filter(|t| rules.table(t).is_some())
        .map(|table| audit_one(&auditor, catalog, table, dt));
    for audited in futures::future::join_all(audits).await {
        let Some((table, verdict, seconds)) = audited? else {
            continue;
        };
        out.seconds += seconds;
        if let Some(verdict) = verdict {
            out.blocked
                .entry(table.to_string())
                .and_modify(|why| *why = format!("{why}; {verdict}"))
                .or_insert(verdict);
        }
    }
    Ok(out)
}

/// Audits one source table's partition as a `check` run: its name, why it blocks (if it
/// does) and the audit's seconds; `None` when the partition could not be read at all (the
/// steps reading it fail with the lake's own message; the check run says why).
async fn audit_one<'t>(
    auditor: &Auditor<'_>,
    catalog: &Catalog,
    table: &'t str,
    dt: NaiveDate,
) -> Result<Option<(&'t str, Option<String>, f64)>, WarehouseError> {
    let run = catalog.start_run(RunKind::Check, table, Some(dt))?;
    let audit = match auditor
        .audit(table, dt, Partition::Published, &[], Some(run))
        .await
    {
        Ok(audit) => audit,
        Err(e) => {
            let message = format!("could not check: {e}");
            catalog.finish_run(run, Outcome::Failed, 0, 0, Some(&message))?;
            return Ok(None);
        }
    };
    let verdict = auditor.record_check_run(run, &audit)?;
    Ok(Some((table, verdict, audit.seconds)))
}

/// The tables that must not be read for day `dt` because the day's sync found the lake
/// short of the source (its reconciliation, recorded as a check), with why: one read of
/// the day's newest results.
fn failed_reconciliations(
    catalog: &Catalog,
    dt: NaiveDate,
) -> Result<Vec<(String, String)>, WarehouseError> {
    let latest = catalog.check_results(&CheckFilter {
        dt: Some(dt),
        latest: true,
        ..CheckFilter::default()
    })?;
    let suffix = format!(".{SOURCE_RECONCILE_CHECK}");
    Ok(latest
        .iter()
        .filter(|r| r.check_id.ends_with(&suffix) && blocks(r))
        .map(|r| {
            (
                r.table.clone(),
                format!("quality check failed: {}", describe(r)),
            )
        })
        .collect())
}
