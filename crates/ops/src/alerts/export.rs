//! The rules as a Prometheus rule file, for teams that run Prometheus and Alertmanager:
//! the same expressions, `for`, labels and annotations, so both fire on the same figures.
//! YAML is written by hand with every string double-quoted (JSON's escaping is valid YAML),
//! which needs no YAML library and cannot produce a value YAML reads differently.

use std::time::Duration;

use super::rules::RuleSet;
use crate::duration::prometheus_duration;

/// The rule file, one group evaluated every `interval`.
pub fn prometheus_rules(rules: &RuleSet, interval: Duration) -> String {
    let q = |s: &str| serde_json::Value::String(s.to_string()).to_string();
    let mut out = String::from(
        "# Written by `medlake alerts export --prometheus`: medlake's alert rules for Prometheus.\n",
    );
    out.push_str("groups:\n  - name: \"medlake\"\n");
    out.push_str(&format!(
        "    interval: {}\n    rules:\n",
        q(&prometheus_duration(interval))
    ));
    for rule in &rules.rules {
        out.push_str(&format!("      - alert: {}\n", q(&rule.name)));
        out.push_str(&format!("        expr: {}\n", q(&rule.expr_text)));
        out.push_str(&format!(
            "        for: {}\n",
            q(&prometheus_duration(rule.for_))
        ));
        out.push_str("        labels:\n");
        out.push_str(&format!("          severity: {}\n", q(&rule.severity)));
        for (k, v) in &rule.labels {
            out.push_str(&format!("          {}: {}\n", k, q(v)));
        }
        out.push_str("        annotations:\n");
        out.push_str(&format!("          summary: {}\n", q(&rule.summary)));
        if !rule.description.is_empty() {
            out.push_str(&format!(
                "          description: {}\n",
                q(&rule.description)
            ));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_rule_is_written_with_its_expression_quoted() {
        let rules = RuleSet::builtin();
        let text = prometheus_rules(&rules, Duration::from_secs(15));
        assert!(text.contains("interval: \"15s\""));
        for rule in &rules.rules {
            assert!(
                text.contains(&format!("- alert: \"{}\"", rule.name)),
                "{}",
                rule.name
            );
        }
        assert!(
            text.contains(r#"expr: "medlake_check_failed{severity=\"error\"} == 1""#),
            "{text}"
        );
        assert!(text.contains("for: \"30m\""));
    }
}
