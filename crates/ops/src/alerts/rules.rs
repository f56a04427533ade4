//! `alerts.toml`: the rules, checked when they load so that a rule file that loads is one
//! medlake can evaluate and Prometheus can load (the same PromQL).

use std::collections::BTreeMap;
use std::time::Duration;

use promql_parser::parser::Expr;
use serde::Deserialize;

use super::eval;
use crate::duration::parse_duration;
use crate::series::Labels;

/// The built-in rules.
pub const BUILTIN: &str = include_str!("alerts.toml");

/// Severities, mildest first.
pub const SEVERITIES: [&str; 3] = ["info", "warning", "critical"];

/// One alert rule, checked.
#[derive(Debug, Clone)]
pub struct Rule {
    /// Its name (the `alertname` label).
    pub name: String,
    /// The expression as written.
    pub expr_text: String,
    /// The expression, parsed.
    pub expr: Expr,
    /// How long the expression must hold before the alert fires.
    pub for_: Duration,
    /// `info`, `warning` or `critical`.
    pub severity: String,
    /// Labels added to its alerts (routing keys on them).
    pub labels: Labels,
    /// The one-line summary template.
    pub summary: String,
    /// A longer description (what to do).
    pub description: String,
}

/// A rule file's rules.
#[derive(Debug, Clone)]
pub struct RuleSet {
    /// The rules in file order.
    pub rules: Vec<Rule>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RuleFile {
    #[serde(default)]
    rule: Vec<RuleEntry>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RuleEntry {
    name: String,
    expr: String,
    #[serde(rename = "for")]
    for_: Option<String>,
    severity: String,
    #[serde(default)]
    labels: BTreeMap<String, String>,
    summary: String,
    #[serde(default)]
    description: String,
}

/// Why a rule file does not load (one line, naming the file and the rule).
#[derive(Debug, thiserror::Error)]
#[error("{origin}: {message}")]
pub struct RuleError {
    origin: String,
    message: String,
}

impl RuleSet {
    /// The built-in rules.
    pub fn builtin() -> RuleSet {
        // The built-in file is checked by a test; should it ever not load, no rules is
        // the answer that keeps the server up (and the test fails).
        RuleSet::parse(BUILTIN, "built-in alerts.toml").unwrap_or(RuleSet { rules: vec![] })
    }

    /// The rules of `text`, read from `origin` (a file name, for errors).
    pub fn parse(text: &str, origin: &str) -> Result<RuleSet, RuleError> {
        let err = |message: String| RuleError {
            origin: origin.to_string(),
            message,
        };
        let file: RuleFile = toml::from_str(text).map_err(|e| err(one_line(&e.to_string())))?;
        let mut rules: Vec<Rule> = Vec::new();
        for entry in file.rule {
            let rule = check_rule(entry).map_err(&err)?;
            if rules.iter().any(|r| r.name == rule.name) {
                return Err(err(format!("rule {} is declared twice", rule.name)));
            }
            rules.push(rule);
        }
        Ok(RuleSet { rules })
    }
}

fn check_rule(e: RuleEntry) -> Result<Rule, String> {
    let at = |m: String| format!("rule {}: {m}", e.name);
    if e.name.is_empty()
        || !e
            .name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_')
    {
        return Err(format!(
            "rule {:?}: a name is letters, digits and _",
            e.name
        ));
    }
    if !SEVERITIES.contains(&e.severity.as_str()) {
        return Err(at(format!(
            "severity {:?} is not one of {SEVERITIES:?}",
            e.severity
        )));
    }
    for key in e.labels.keys() {
        if matches!(key.as_str(), "alertname" | "severity") {
            return Err(at(format!("label {key} is set by medlake")));
        }
    }
    let expr = eval::parse(&e.expr).map_err(|x| at(format!("expr: {x}")))?;
    let for_ = e
        .for_
        .as_deref()
        .map_or(Ok(Duration::ZERO), parse_duration)
        .map_err(|x| at(format!("for: {x}")))?;
    Ok(Rule {
        name: e.name,
        expr_text: e.expr,
        expr,
        for_,
        severity: e.severity,
        labels: e.labels,
        summary: e.summary,
        description: e.description,
    })
}

fn one_line(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Fills a summary template: `{{ $labels.NAME }}`, `{{ $value }}`, and the pipes
/// `humanize` and `humanizePercentage` Prometheus' templates know. Anything else is left
/// as written.
pub fn fill(template: &str, labels: &Labels, value: f64) -> String {
    let mut out = String::new();
    let mut rest = template;
    while let Some(open) = rest.find("{{") {
        out.push_str(&rest[..open]);
        let Some(close) = rest[open..].find("}}") else {
            out.push_str(&rest[open..]);
            return out;
        };
        let inner = rest[open + 2..open + close].trim();
        out.push_str(
            &fill_one(inner, labels, value)
                .unwrap_or_else(|| rest[open..open + close + 2].to_string()),
        );
        rest = &rest[open + close + 2..];
    }
    out.push_str(rest);
    out
}

fn fill_one(inner: &str, labels: &Labels, value: f64) -> Option<String> {
    let mut parts = inner.split('|').map(str::trim);
    let head = parts.next()?;
    let pipe = parts.next();
    if let Some(name) = head.strip_prefix("$labels.") {
        return Some(labels.get(name).cloned().unwrap_or_default());
    }
    if head != "$value" {
        return None;
    }
    Some(match pipe {
        None | Some("humanize") => number(value),
        Some("humanizePercentage") => format!("{}%", number(value * 100.0)),
        Some(_) => return None,
    })
}

/// A value as people read it: an integer plainly, otherwise up to three decimals.
pub fn number(v: f64) -> String {
    if v.fract() == 0.0 && v.abs() < 1e15 {
        format!("{v:.0}")
    } else {
        let s = format!("{v:.3}");
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_builtin_rules_load() {
        let set = RuleSet::parse(BUILTIN, "built-in").unwrap();
        assert!(set.rules.len() >= 10);
        for name in [
            "BuildFailed",
            "PipelineLate",
            "TableStale",
            "CaptureLag",
            "LanderLag",
            "QualityCheckFailed",
            "VolumeAlmostFull",
            "BusinessDatabaseDown",
            "QueryLatencyHigh",
            "LoginFailuresBurst",
        ] {
            assert!(set.rules.iter().any(|r| r.name == name), "{name}");
        }
    }

    #[test]
    fn mistakes_name_the_rule() {
        let bad = |text: &str| RuleSet::parse(text, "f.toml").unwrap_err().to_string();
        let e =
            bad("[[rule]]\nname = \"A\"\nexpr = \"x >\"\nseverity = \"critical\"\nsummary = \"s\"");
        assert!(e.starts_with("f.toml: rule A: expr"), "{e}");
        let e = bad("[[rule]]\nname = \"A\"\nexpr = \"x\"\nseverity = \"loud\"\nsummary = \"s\"");
        assert!(e.contains("severity"), "{e}");
        let e = bad("[[rule]]\nname = \"A\"\nexpr = \"x\"\nseverity = \"info\"\nsummary = \"s\"\nfor = \"5\"");
        assert!(e.contains("for"), "{e}");
        let e = bad("[[rule]]\nname = \"A\"\nexpr = \"x\"\nseverity = \"info\"\nsummary = \"s\"\n[[rule]]\nname = \"A\"\nexpr = \"x\"\nseverity = \"info\"\nsummary = \"s\"");
        assert!(e.contains("twice"), "{e}");
        assert!(bad(
            "[[rule]]\nname = \"A\"\nexpr = \"x\"\nseverity = \"info\"\nsummary = \"s\"\nwhen = 1"
        )
        .contains("unknown field"));
    }

    #[test]
    fn summaries_fill_labels_and_values() {
        let labels: Labels = [("day".to_string(), "2026-03-03".to_string())].into();
        assert_eq!(
            fill(
                "build of {{ $labels.day }} failed ({{$value}})",
                &labels,
                1.0
            ),
            "build of 2026-03-03 failed (1)"
        );
        assert_eq!(
            fill("{{ $value | humanizePercentage }} full", &labels, 0.8712),
            "87.12% full"
        );
        assert_eq!(fill("{{ $value }} s", &labels, 61.25), "61.25 s");
        assert_eq!(
            fill("{{ .Unknown }} {{ $labels.none }}", &labels, 0.0),
            "{{ .Unknown }} "
        );
    }
}
