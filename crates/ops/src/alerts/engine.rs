//! The alert state machine, as Prometheus' rule manager runs it: every evaluation, each
//! rule's expression is evaluated over the figures' history; a series it returns becomes
//! a pending alert, firing once it has been returned for the rule's `for`; a firing alert
//! whose series is no longer returned resolves. A pending one that stops is forgotten.
//!
//! A rule whose evaluation fails keeps its alerts as they were (an error is not a
//! resolution) and reports the error.

use std::collections::BTreeMap;
use std::time::Duration;

use chrono::{DateTime, Utc};

use super::eval;
use super::rules::{fill, RuleSet};
use super::{fingerprint, Alert, AlertState};
use crate::series::{History, Snapshot};

/// What one evaluation changed.
#[derive(Debug, Default)]
pub struct Evaluation {
    /// Alerts that started firing or resolved in this evaluation.
    pub changes: Vec<Alert>,
    /// Rules whose expression could not be evaluated, with why.
    pub errors: Vec<(String, String)>,
}

/// The rules, the figures' history and the alerts as they stand.
pub struct Engine {
    rules: RuleSet,
    history: History,
    active: BTreeMap<String, Alert>,
}

/// The history kept: the longest range a rule reads, with room to spare.
const KEEP: Duration = Duration::from_secs(3_600);

impl Engine {
    /// An engine for `rules` with no history yet.
    pub fn new(rules: RuleSet) -> Engine {
        Engine {
            rules,
            history: History::new(KEEP.as_millis() as i64),
            active: BTreeMap::new(),
        }
    }

    /// Takes up alerts that were firing when the previous process stopped (from the
    /// recorded history), so that a restart neither records them firing a second time nor
    /// forgets to resolve them. Alerts of rules no longer declared are left out.
    pub fn restore(&mut self, firing: Vec<Alert>) {
        for alert in firing {
            if self.rules.rules.iter().any(|r| r.name == alert.rule) {
                self.active.insert(alert.fingerprint(), alert);
            }
        }
    }

    /// The rules.
    pub fn rules(&self) -> &RuleSet {
        &self.rules
    }

    /// The figures' history the rules read (also read for the charts).
    pub fn history(&self) -> &History {
        &self.history
    }

    /// Alerts pending or firing now.
    pub fn active(&self) -> impl Iterator<Item = &Alert> {
        self.active.values()
    }

    /// Adds `snapshot` (taken at `now`) to the history and evaluates every rule.
    pub fn evaluate(&mut self, snapshot: Snapshot, now: DateTime<Utc>) -> Evaluation {
        let at_ms = snapshot.at_ms;
        self.history.push(snapshot);
        let mut evaluation = Evaluation::default();
        for rule in &self.rules.rules {
            let elements = match eval::evaluate(&rule.expr, &self.history, at_ms) {
                Ok(elements) => elements,
                Err(e) => {
                    evaluation.errors.push((rule.name.clone(), e.to_string()));
                    continue;
                }
            };
            let mut seen = Vec::new();
            for element in elements {
                let mut labels = element.labels;
                labels.remove("__name__");
                labels.extend(rule.labels.clone());
                labels.insert("alertname".into(), rule.name.clone());
                labels.insert("severity".into(), rule.severity.clone());
                let key = fingerprint(&labels);
                let summary = fill(&rule.summary, &labels, element.value);
                let alert = self.active.entry(key.clone()).or_insert_with(|| Alert {
                    rule: rule.name.clone(),
                    labels: labels.clone(),
                    summary: summary.clone(),
                    value: element.value,
                    state: AlertState::Pending,
                    starts_at: now,
                    ends_at: None,
                });
                alert.value = element.value;
                alert.summary = summary;
                let held = (now - alert.starts_at).to_std().unwrap_or_default();
                if alert.state == AlertState::Pending && held >= rule.for_ {
                    alert.state = AlertState::Firing;
                    evaluation.changes.push(alert.clone());
                }
                seen.push(key);
            }
            let gone: Vec<String> = self
                .active
                .iter()
                .filter(|(k, a)| a.rule == rule.name && !seen.contains(k))
                .map(|(k, _)| k.clone())
                .collect();
            for key in gone {
                if let Some(mut alert) = self.active.remove(&key) {
                    if alert.state == AlertState::Firing {
                        alert.state = AlertState::Resolved;
                        alert.ends_at = Some(now);
                        evaluation.changes.push(alert);
                    }
                }
            }
        }
        evaluation
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::series::Sample;

    fn rules(text: &str) -> RuleSet {
        RuleSet::parse(text, "test").unwrap()
    }

    fn snap(at_s: i64, lag: Option<f64>) -> Snapshot {
        Snapshot {
            at_ms: at_s * 1000,
            samples: lag
                .map(|v| vec![Sample::new("lag", &[("source", "mariadb")], v)])
                .unwrap_or_default(),
        }
    }

    fn at(s: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(s, 0).unwrap()
    }

    #[test]
    fn pending_then_firing_after_for_then_resolved() {
        let mut engine = Engine::new(rules(
            "[[rule]]\nname = \"Lag\"\nexpr = \"lag > 60\"\nfor = \"30s\"\nseverity = \"critical\"\nsummary = \"{{ $labels.source }} {{ $value }} s\"",
        ));
        let e = engine.evaluate(snap(0, Some(10.0)), at(0));
        assert!(e.changes.is_empty() && engine.active().count() == 0);
        let e = engine.evaluate(snap(15, Some(70.0)), at(15));
        assert!(e.changes.is_empty());
        assert_eq!(engine.active().next().unwrap().state, AlertState::Pending);
        let e = engine.evaluate(snap(45, Some(90.0)), at(45));
        assert_eq!(e.changes.len(), 1);
        let firing = &e.changes[0];
        assert_eq!(firing.state, AlertState::Firing);
        assert_eq!(firing.summary, "mariadb 90 s");
        assert_eq!(firing.labels.get("alertname").unwrap(), "Lag");
        assert_eq!(firing.starts_at, at(15));
        // Still firing: no change. Then the lag clears: resolved once.
        assert!(engine
            .evaluate(snap(60, Some(95.0)), at(60))
            .changes
            .is_empty());
        let e = engine.evaluate(snap(75, Some(1.0)), at(75));
        assert_eq!(e.changes[0].state, AlertState::Resolved);
        assert_eq!(e.changes[0].ends_at, Some(at(75)));
        assert!(engine
            .evaluate(snap(90, Some(1.0)), at(90))
            .changes
            .is_empty());
    }

    #[test]
    fn a_restored_firing_alert_is_not_fired_again_and_resolves_when_it_clears() {
        let text = "[[rule]]\nname = \"Lag\"\nexpr = \"lag > 60\"\nseverity = \"critical\"\nsummary = \"s\"";
        let mut first = Engine::new(rules(text));
        let fired = first.evaluate(snap(0, Some(70.0)), at(0)).changes;
        let mut second = Engine::new(rules(text));
        second.restore(fired);
        assert!(second
            .evaluate(snap(15, Some(80.0)), at(15))
            .changes
            .is_empty());
        let e = second.evaluate(snap(30, Some(1.0)), at(30));
        assert_eq!(e.changes[0].state, AlertState::Resolved);
        assert_eq!(e.changes[0].starts_at, at(0));
    }

    #[test]
    fn a_pending_alert_that_stops_is_forgotten_and_for_zero_fires_at_once() {
        let mut engine = Engine::new(rules(
            "[[rule]]\nname = \"Slow\"\nexpr = \"lag > 60\"\nfor = \"1m\"\nseverity = \"warning\"\nsummary = \"s\"\n[[rule]]\nname = \"Now\"\nexpr = \"lag > 60\"\nseverity = \"info\"\nsummary = \"s\"",
        ));
        let e = engine.evaluate(snap(0, Some(70.0)), at(0));
        assert_eq!(e.changes.len(), 1);
        assert_eq!(e.changes[0].rule, "Now");
        let e = engine.evaluate(snap(15, Some(1.0)), at(15));
        assert_eq!(e.changes.len(), 1, "only Now resolves; Slow was pending");
        assert_eq!(engine.active().count(), 0);
    }
}
