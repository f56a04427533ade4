//! `medlake policies` and `medlake audit`: the policy set in the catalog (list, show,
//! check, load, history, explain) and the tamper-evident query audit (verify, search).

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{bail, Context, Result};
use clap::{Args, Subcommand};
use medlake_serve::governance::{PolicySet, Rule};
use medlake_serve::{Accounts, QueryService};

use crate::config::Config;

/// `medlake policies`: who reads which tables, rows and column values.
#[derive(Debug, Args)]
pub struct PoliciesCommand {
    #[command(subcommand)]
    sub: PoliciesSub,
}

#[derive(Debug, Subcommand)]
enum PoliciesSub {
    /// The policies in force, one line each.
    List,
    /// The policy file in force (or of --version), or one policy with its id.
    Show {
        /// A policy id.
        id: Option<String>,
        /// An older version.
        #[arg(long)]
        version: Option<i64>,
    },
    /// Check a policy file without storing it.
    Check {
        /// The file.
        file: PathBuf,
    },
    /// Store a policy file as the new version in force (running servers pick it up at
    /// their next refresh).
    Load {
        /// The file.
        file: PathBuf,
        /// Why it changed, kept with the version.
        #[arg(long)]
        note: Option<String>,
    },
    /// Every stored version: who changed it and when.
    History {
        /// How many.
        #[arg(long, default_value_t = 20)]
        limit: usize,
    },
    /// Show how a statement is rewritten for an account: the policed plan and the
    /// policies applied (nothing is run).
    Explain {
        /// The account to explain for.
        #[arg(long)]
        user: String,
        /// The statement.
        sql: String,
    },
}

/// `medlake audit`: the query audit.
#[derive(Debug, Args)]
pub struct AuditCommand {
    #[command(subcommand)]
    sub: AuditSub,
}

#[derive(Debug, Subcommand)]
enum AuditSub {
    /// Check the audit's hash chain; exits with 1 when a row was altered or removed.
    Verify,
    /// Search the audit, newest first.
    Search {
        /// This account only.
        #[arg(long)]
        account: Option<String>,
        /// Statements that read this table.
        #[arg(long)]
        table: Option<String>,
        /// ok, failed, refused, timeout or cancelled.
        #[arg(long)]
        outcome: Option<String>,
        /// At or after this time (YYYY-MM-DD or YYYY-MM-DD HH:MM:SS).
        #[arg(long)]
        since: Option<String>,
        /// Before this time.
        #[arg(long)]
        until: Option<String>,
        /// At most this many.
        #[arg(long, default_value_t = 50)]
        limit: usize,
        /// CSV instead of a table.
        #[arg(long)]
        csv: bool,
    },
}

/// Runs `medlake policies ...`.
pub async fn policies(config: &Config, command: &PoliciesCommand) -> Result<()> {
    let catalog = config.open_catalog()?;
    match &command.sub {
        PoliciesSub::List => {
            let Some(current) = catalog.current_policies()? else {
                println!("no policy set stored yet: `medlake serve` stores the built-in set at its first start");
                return Ok(());
            };
            let set = PolicySet::parse(&current.body)?;
            println!(
                "version {} ({} policies), stored by {} at {}",
                current.version,
                set.policies.len(),
                current.changed_by,
                current.changed_at.format("%Y-%m-%d %H:%M:%S")
            );
            for p in &set.policies {
                println!(
                    "{:<28} {:<7} {} on {}{}",
                    p.id,
                    p.kind(),
                    p.principals.join(","),
                    p.tables.join(","),
                    summary(&p.rule, &p.columns)
                );
            }
        }
        PoliciesSub::Show { id, version } => {
            let stored = match version {
                Some(v) => catalog
                    .policy_versions(usize::MAX)?
                    .into_iter()
                    .find(|p| p.version == *v),
                None => catalog.current_policies()?,
            };
            let Some(stored) = stored else {
                bail!("no such policy version");
            };
            match id {
                None => print!("{}", stored.body),
                Some(id) => {
                    let set = PolicySet::parse(&stored.body)?;
                    let Some(p) = set.policies.iter().find(|p| &p.id == id) else {
                        bail!("version {} has no policy {id:?}", stored.version);
                    };
                    println!("id:          {}", p.id);
                    println!("description: {}", p.description);
                    println!("kind:        {}", p.kind());
                    println!("principals:  {}", p.principals.join(", "));
                    println!("tables:      {}", p.tables.join(", "));
                    if !p.columns.is_empty() {
                        println!("columns:     {}", p.columns.join(", "));
                    }
                    println!("rule:       {}", summary(&p.rule, &[]));
                }
            }
        }
        PoliciesSub::Check { file } => {
            let text = read(file)?;
            let set = PolicySet::parse(&text)?;
            println!(
                "{}: {} policies, all well-formed",
                file.display(),
                set.policies.len()
            );
        }
        PoliciesSub::Load { file, note } => {
            let text = read(file)?;
            PolicySet::parse(&text)?;
            let by = format!(
                "cli:{}",
                std::env::var("USER")
                    .or_else(|_| std::env::var("LOGNAME"))
                    .unwrap_or_else(|_| "unknown".into())
            );
            let version = catalog.store_policies(&text, &by, note.as_deref())?;
            println!("stored as version {version}; running servers apply it at their next refresh");
        }
        PoliciesSub::History { limit } => {
            println!("{:<8} {:<20} {:<28} note", "version", "stored", "by");
            for v in catalog.policy_versions(*limit)? {
                println!(
                    "{:<8} {:<20} {:<28} {}",
                    v.version,
                    v.changed_at.format("%Y-%m-%d %H:%M:%S"),
                    v.changed_by,
                    v.note.unwrap_or_default()
                );
            }
        }
        PoliciesSub::Explain { user, sql } => explain(config, catalog, user, sql).await?,
    }
    Ok(())
}

async fn explain(
    config: &Config,
    catalog: medlake_catalog::Catalog,
    user: &str,
    sql: &str,
) -> Result<()> {
    let catalog = Arc::new(catalog);
    let Some(who) = Accounts::new(catalog.clone())?.principal(user)? else {
        bail!("there is no enabled account named {user:?}");
    };
    let lake = medlake_lake::Lake::open(&config.lake.url, config.lake_options()).context("lake")?;
    let project = config.project()?;
    let inherited = crate::lineage_cmd::inherited_phi(config, &project);
    let options = config.governance.options(&project, &inherited);
    let service =
        QueryService::open_governed(lake, catalog, config.limits.query_limits(), &options).await?;
    match service.explain_policies(&who, sql).await {
        Ok((plan, applied)) => {
            println!("{plan}");
            println!();
            println!("tables read:      {}", joined(&applied.tables));
            println!("policies applied: {}", joined(&applied.policies));
            if applied.phi_unmasked {
                println!("PHI is read unmasked (audited as such)");
            }
            Ok(())
        }
        Err(e) => bail!("{e}"),
    }
}

fn joined(set: &std::collections::BTreeSet<String>) -> String {
    if set.is_empty() {
        "(none)".into()
    } else {
        set.iter().cloned().collect::<Vec<_>>().join(", ")
    }
}

fn summary(rule: &Rule, columns: &[String]) -> String {
    let on = if columns.is_empty() {
        String::new()
    } else {
        format!(" columns {}", columns.join(","))
    };
    match rule {
        Rule::Access(allow) => format!(" {}", if *allow { "allow" } else { "deny" }),
        Rule::RowFilter(sql) => format!(" where {sql}"),
        Rule::Mask(kind) => format!("{on} mask {}", kind.name()),
    }
}

fn read(file: &PathBuf) -> Result<String> {
    std::fs::read_to_string(file).with_context(|| format!("cannot read {}", file.display()))
}

/// Runs `medlake audit ...`.
pub fn audit(config: &Config, command: &AuditCommand) -> Result<()> {
    let catalog = config.open_catalog()?;
    match &command.sub {
        AuditSub::Verify => {
            let report = catalog.verify_audit()?;
            println!(
                "{} rows chained, {} from before the chain",
                report.chained, report.unchained
            );
            if let Some((id, why)) = report.broken {
                bail!("the audit chain is broken at row {id}: {why}");
            }
            println!(
                "the chain holds; head hash {} (keep it elsewhere to detect truncation)",
                report.head.unwrap_or_else(|| "(empty)".into())
            );
        }
        AuditSub::Search {
            account,
            table,
            outcome,
            since,
            until,
            limit,
            csv,
        } => {
            let search = medlake_catalog::AuditSearch {
                account: account.clone(),
                table: table.clone(),
                outcome: outcome.clone(),
                since: since.as_deref().map(time).transpose()?,
                until: until.as_deref().map(time).transpose()?,
                limit: *limit,
            };
            let records = catalog.search_audit(&search)?;
            if *csv {
                print!("{}", medlake_serve::http::audit_csv(&records));
            } else {
                for r in records {
                    println!(
                        "{} {} {:<10} {:<9} {:<8} rows={} tables={} policies={}{}  {}",
                        r.id,
                        r.at.format("%Y-%m-%d %H:%M:%S"),
                        r.account,
                        r.channel,
                        r.outcome,
                        r.rows.map_or("-".into(), |v| v.to_string()),
                        r.tables,
                        r.policies,
                        if r.phi_unmasked { " PHI-UNMASKED" } else { "" },
                        r.statement.split_whitespace().collect::<Vec<_>>().join(" ")
                    );
                }
            }
        }
    }
    Ok(())
}

/// `YYYY-MM-DD` or `YYYY-MM-DD HH:MM:SS`.
fn time(s: &str) -> Result<chrono::NaiveDateTime> {
    chrono::NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M:%S")
        .or_else(|_| {
            chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d")
                .map(|d| d.and_hms_opt(0, 0, 0).unwrap_or_default())
        })
        .with_context(|| format!("{s:?} is not YYYY-MM-DD or YYYY-MM-DD HH:MM:SS"))
}
