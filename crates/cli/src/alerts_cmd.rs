//! `medlake alerts`: the alert rules (`list`), a check of the rules and receivers of
//! `[alerts]` (`check`), the rules as a Prometheus rule file (`export --prometheus`), and a
//! test message to one receiver (`test`), so a new robot or mailbox is proven before the
//! first real alert.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use chrono::Utc;
use medlake_ops::alerts::export::prometheus_rules;
use medlake_ops::alerts::{Alert, AlertState};
use medlake_ops::notify::{deliver_with_retries, Notification};

use crate::config::Config;

/// `medlake alerts`.
#[derive(Debug, clap::Args)]
pub struct AlertsCommand {
    #[command(subcommand)]
    sub: AlertsSub,
}

#[derive(Debug, clap::Subcommand)]
enum AlertsSub {
    /// List the alert rules in force: name, severity, for, expression.
    List,
    /// Check the rules and the receivers and routes of `[alerts]`; exit 1 on a mistake.
    Check,
    /// Write the rules as a Prometheus rule file (for `rule_files:`), to stdout or --output.
    Export {
        /// Prometheus' rule-file format (the only one).
        #[arg(long, required = true)]
        prometheus: bool,
        /// Write to this file instead of stdout.
        #[arg(long, short, value_name = "FILE")]
        output: Option<PathBuf>,
    },
    /// Send a test notification to one receiver and say whether it arrived.
    Test {
        /// The receiver's name in `[alerts]`.
        #[arg(long)]
        receiver: String,
    },
}

/// Runs `medlake alerts`.
pub async fn run(
    config: &Config,
    command: &AlertsCommand,
    config_file: Option<&Path>,
) -> Result<()> {
    let monitor = crate::operations::monitor_config(config, config_file)?;
    match &command.sub {
        AlertsSub::List => {
            println!(
                "{} rules ({}), evaluated every {} s",
                monitor.rules.rules.len(),
                monitor.rules_origin,
                monitor.interval.as_secs()
            );
            for r in &monitor.rules.rules {
                println!(
                    "{:<22} {:<8} for {:>5}s  {}",
                    r.name,
                    r.severity,
                    r.for_.as_secs(),
                    r.expr_text
                );
            }
            Ok(())
        }
        AlertsSub::Check => {
            println!(
                "{} rules ({}) and {} receivers, {} routes: all usable",
                monitor.rules.rules.len(),
                monitor.rules_origin,
                monitor.notify.receivers.len(),
                monitor.notify.routes.len()
            );
            Ok(())
        }
        AlertsSub::Export { output, .. } => {
            let text = prometheus_rules(&monitor.rules, monitor.interval);
            match output {
                Some(path) => {
                    std::fs::write(path, text)
                        .with_context(|| format!("writing {}", path.display()))?;
                    eprintln!(
                        "wrote {} rules to {}",
                        monitor.rules.rules.len(),
                        path.display()
                    );
                }
                None => print!("{text}"),
            }
            Ok(())
        }
        AlertsSub::Test { receiver } => {
            let Some(target) = monitor.notify.receiver(receiver).cloned() else {
                bail!("no receiver named {receiver} in [alerts]");
            };
            let alert = test_alert();
            let labels = alert.labels.clone();
            let n = Notification::new(receiver, "medlake-test", labels, vec![alert]);
            let http = reqwest::Client::new();
            let outcome =
                deliver_with_retries(&target, &n, &http, 1, std::time::Duration::from_secs(1))
                    .await;
            match outcome.error {
                None => {
                    println!("{receiver} took the test message");
                    Ok(())
                }
                Some(e) => bail!("{receiver} did not take the test message: {e}"),
            }
        }
    }
}

/// An alert that says it is a test.
fn test_alert() -> Alert {
    let labels = [("alertname", "MedlakeTest"), ("severity", "info")]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    Alert {
        rule: "MedlakeTest".into(),
        labels,
        summary: "A test message from `medlake alerts test`: this receiver works.".into(),
        value: 1.0,
        state: AlertState::Firing,
        starts_at: Utc::now(),
        ends_at: None,
    }
}
