//! `medlake lake`: what the lake holds; `medlake lake forget-secrets`: drop the secret
//! columns (password hashes) a medlake from before "secrets never land" wrote into it.

use anyhow::{Context, Result};
use medlake_changes::ForgetReport;
use medlake_lake::Lake;

use crate::config::Config;
use crate::report;

/// `medlake lake [--partitions]` shows the lake; `medlake lake forget-secrets` drops the
/// secrets an older medlake landed.
#[derive(Debug, Clone, clap::Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct LakeCommand {
    /// Drop landed secrets instead of showing the lake.
    #[command(subcommand)]
    pub sub: Option<LakeSub>,
    /// List every partition.
    #[arg(long)]
    pub partitions: bool,
}

/// Subcommands of `medlake lake`.
#[derive(Debug, Clone, clap::Subcommand)]
pub enum LakeSub {
    /// Drop the secret columns (password hashes: doctor.password, user.hashed_password)
    /// that a medlake before "secrets never land" wrote into the lake.
    ///
    /// Today capture leaves secret columns out, and `medlake sync` and `medlake cdc`
    /// refuse to write a table that still holds one. This command rewrites each ODS table
    /// of doctor and user that holds a secret, as a column (ods_*_full), as a field of
    /// `data` or as a key of the `old` / `data_extra` JSON (ods_*_inc), without it, in one
    /// Delta commit per table (capture markers are kept, so capture resumes where it was).
    /// Then it deletes the history of every ODS table of doctor and user: the Parquet
    /// files earlier versions used (a vacuum with zero retention, its retention check
    /// disabled: keeping them the default week would keep the hashes a week) and the
    /// Delta log before a new checkpoint (old commits keep the removed files' column
    /// statistics, the smallest and largest hash of each file). Time travel to earlier
    /// versions of those tables ends.
    ///
    /// Stop `medlake cdc`, `medlake cdc land` and syncs first: the purge deletes files an
    /// older version still uses. Run it again at any time: it then prints "nothing to
    /// drop" for every table. Kafka topics and copies of the lake elsewhere are not
    /// touched (docs/permissions.md, "Secrets never land").
    ForgetSecrets,
}

/// Runs `medlake lake` or one of its subcommands.
pub async fn run(config: &Config, command: &LakeCommand) -> Result<()> {
    let lake = Lake::open(&config.lake.url, config.lake_options()).context("lake")?;
    match command.sub {
        None => {
            let summary = lake.summary().await.context("reading the lake")?;
            report::print_lake(&summary, command.partitions);
            Ok(())
        }
        Some(LakeSub::ForgetSecrets) => {
            let reports = medlake_changes::forget_secrets(&lake)
                .await
                .context("forgetting secrets")?;
            print_forgotten(&reports);
            Ok(())
        }
    }
}

/// One line per lake table: what was dropped, rewritten and deleted, or that nothing was.
fn print_forgotten(reports: &[ForgetReport]) {
    if reports.is_empty() {
        println!("nothing to drop: the lake has no table of a business table with secrets");
        return;
    }
    for r in reports {
        let mut line = if r.dropped.is_empty() {
            format!("{}: nothing to drop", r.table)
        } else {
            format!(
                "{}: dropped {}; rewrote {} rows",
                r.table,
                r.dropped.join(", "),
                r.rows
            )
        };
        let purged = r.purged;
        if purged.data_files > 0 || purged.log_files > 0 {
            line.push_str(&format!(
                "; deleted {} data files and {} log files of earlier versions",
                purged.data_files, purged.log_files
            ));
        }
        println!("{line}");
    }
}
