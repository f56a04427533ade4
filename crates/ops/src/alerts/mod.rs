//! Alert rules as data (`alerts.toml`): PromQL expressions over medlake's figures, each with
//! a `for` duration, a severity, labels and a summary. medlake evaluates them itself
//! ([`engine`], [`eval`]) and writes the same rules as a Prometheus rule file ([`export`]).

pub mod engine;
pub mod eval;
pub mod export;
pub mod rules;

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::series::Labels;

/// Where an alert stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum AlertState {
    /// The condition holds, but not yet for the rule's `for` duration.
    Pending,
    /// The condition has held for `for`: people are told.
    Firing,
    /// It fired and the condition no longer holds.
    Resolved,
}

/// One alert: a rule's condition for one series (label set) of its expression.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Alert {
    /// The rule's name (also the `alertname` label).
    pub rule: String,
    /// `alertname`, `severity`, the rule's labels and the series' labels.
    pub labels: Labels,
    /// The rule's summary with `{{ $labels.x }}` and `{{ $value }}` filled in. It carries
    /// figures and names (tables, days, checks), never a row value.
    pub summary: String,
    /// The expression's value for the series when last evaluated.
    pub value: f64,
    /// Where it stands.
    pub state: AlertState,
    /// When the condition first held (pending or firing since).
    pub starts_at: DateTime<Utc>,
    /// When it resolved.
    pub ends_at: Option<DateTime<Utc>>,
}

impl Alert {
    /// A stable identity of the alert: its labels (which include the rule's name), hashed.
    /// The same condition on the same series has the same fingerprint across evaluations
    /// and restarts, which is what deduplication and silences key on.
    pub fn fingerprint(&self) -> String {
        fingerprint(&self.labels)
    }

    /// The severity label (`warning` when the rule gave none).
    pub fn severity(&self) -> &str {
        self.labels
            .get("severity")
            .map(String::as_str)
            .unwrap_or("warning")
    }
}

/// The fingerprint of a label set: 16 hex digits of its SHA-256.
pub fn fingerprint(labels: &BTreeMap<String, String>) -> String {
    use sha2::{Digest, Sha256};
    let mut hash = Sha256::new();
    for (k, v) in labels {
        hash.update(k.as_bytes());
        hash.update([0xff]);
        hash.update(v.as_bytes());
        hash.update([0xfe]);
    }
    hash.finalize()[..8]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}
