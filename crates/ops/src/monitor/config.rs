//! `[alerts]`: which rules, how often they are evaluated, and who hears about them.
//!
//! ```toml
//! [alerts]
//! rules = "alerts.toml"          # default: the built-in rules
//! evaluation_interval = "15s"
//! delivery_attempts = 5          # a receiver that is down is tried again, backing off
//! [[alerts.receivers]]
//! name = "oncall"
//! kind = "dingtalk"
//! url = "https://oapi.dingtalk.com/robot/send?access_token=..."
//! secret = "SEC..."
//! [[alerts.routes]]
//! matchers = { severity = "critical" }
//! receivers = ["oncall"]
//! ```

use std::path::Path;
use std::time::Duration;

use serde::Deserialize;

use crate::alerts::rules::RuleSet;
use crate::duration::parse_duration;
use crate::notify::{NotifyConfig, ReceiverConfig, RouteConfig};

/// The `[alerts]` section as written.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct AlertsSection {
    #[serde(default)]
    rules: String,
    evaluation_interval: Option<String>,
    delivery_attempts: Option<u32>,
    #[serde(default)]
    receivers: Vec<ReceiverConfig>,
    #[serde(default)]
    routes: Vec<RouteConfig>,
}

/// What the monitor runs with.
#[derive(Debug, Clone)]
pub struct MonitorConfig {
    /// The alert rules.
    pub rules: RuleSet,
    /// Where they came from (`built-in`, or the file).
    pub rules_origin: String,
    /// How often figures are sampled and rules evaluated.
    pub interval: Duration,
    /// Receivers and routes.
    pub notify: NotifyConfig,
    /// Attempts of one delivery before it is given up (and recorded as such).
    pub delivery_attempts: u32,
}

impl MonitorConfig {
    /// The monitor's settings from the `[alerts]` table (none: built-in rules, no
    /// receivers); a relative rule file is read from `base` (the config file's folder).
    pub fn from_section(
        section: Option<&toml::Value>,
        base: &Path,
    ) -> Result<MonitorConfig, String> {
        let section: AlertsSection = match section {
            Some(value) => value
                .clone()
                .try_into()
                .map_err(|e: toml::de::Error| format!("[alerts]: {}", e.message()))?,
            None => AlertsSection::default(),
        };
        let (rules, rules_origin) = if section.rules.is_empty() {
            (RuleSet::builtin(), "built-in".to_string())
        } else {
            let path = base.join(&section.rules);
            let text = std::fs::read_to_string(&path)
                .map_err(|e| format!("[alerts] rules: cannot read {}: {e}", path.display()))?;
            let origin = path.display().to_string();
            (
                RuleSet::parse(&text, &origin).map_err(|e| e.to_string())?,
                origin,
            )
        };
        let interval = match section.evaluation_interval.as_deref() {
            Some(text) => {
                parse_duration(text).map_err(|e| format!("[alerts] evaluation_interval: {e}"))?
            }
            None => Duration::from_secs(15),
        };
        if interval < Duration::from_secs(1) {
            return Err("[alerts] evaluation_interval: at least 1s".into());
        }
        let notify = NotifyConfig {
            receivers: section.receivers,
            routes: section.routes,
        };
        notify.validate().map_err(|e| e.to_string())?;
        Ok(MonitorConfig {
            rules,
            rules_origin,
            interval,
            notify,
            delivery_attempts: section.delivery_attempts.unwrap_or(5).max(1),
        })
    }
}

/// The `[alerts]` table with what must not be shown replaced: robots' signing secrets and
/// the query strings of receiver URLs (where robots keep their access tokens).
pub fn redacted(section: &toml::Value) -> toml::Value {
    let mut shown = section.clone();
    if let Some(receivers) = shown
        .get_mut("receivers")
        .and_then(toml::Value::as_array_mut)
    {
        for receiver in receivers.iter_mut().filter_map(toml::Value::as_table_mut) {
            if receiver.contains_key("secret") {
                receiver.insert("secret".into(), toml::Value::String("***".into()));
            }
            if let Some(url) = receiver.get("url").and_then(toml::Value::as_str) {
                let bare = crate::notify::config::redact_url(url);
                receiver.insert("url".into(), toml::Value::String(bare));
            }
        }
    }
    shown
}

#[cfg(test)]
mod tests {
    use super::*;

    fn section(text: &str) -> toml::Value {
        toml::from_str::<toml::Table>(text)
            .map(toml::Value::Table)
            .unwrap()
    }

    #[test]
    fn defaults_a_rule_file_and_mistakes() {
        let config = MonitorConfig::from_section(None, Path::new(".")).unwrap();
        assert_eq!(config.interval, Duration::from_secs(15));
        assert_eq!(config.rules_origin, "built-in");
        let e = MonitorConfig::from_section(Some(&section("interval = \"5s\"")), Path::new("."))
            .unwrap_err();
        assert!(e.contains("interval"), "{e}");
        let e = MonitorConfig::from_section(
            Some(&section("rules = \"missing.toml\"")),
            Path::new("/nowhere"),
        )
        .unwrap_err();
        assert!(e.contains("missing.toml"), "{e}");
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("mine.toml"),
            "[[rule]]\nname = \"Up\"\nexpr = \"medlake_business_db_up == 0\"\nseverity = \"critical\"\nsummary = \"down\"",
        )
        .unwrap();
        let config = MonitorConfig::from_section(
            Some(&section(
                "rules = \"mine.toml\"\nevaluation_interval = \"2s\"",
            )),
            dir.path(),
        )
        .unwrap();
        assert_eq!(config.rules.rules.len(), 1);
        assert_eq!(config.interval, Duration::from_secs(2));
    }

    #[test]
    fn secrets_and_tokens_are_hidden_when_shown() {
        let shown = redacted(&section(
            "[[receivers]]\nname = \"d\"\nkind = \"dingtalk\"\nurl = \"https://oapi.dingtalk.com/robot/send?access_token=TOKEN123\"\nsecret = \"SECabc\"",
        ));
        let text = toml::to_string(&shown).unwrap();
        assert!(
            !text.contains("TOKEN123") && !text.contains("SECabc"),
            "{text}"
        );
    }
}
