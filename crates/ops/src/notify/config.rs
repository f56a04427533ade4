//! Receivers and routes as written under `[alerts]` in `medlake.toml`:
//!
//! ```toml
//! [[alerts.receivers]]
//! name = "oncall-dingtalk"
//! kind = "dingtalk"          # dingtalk | wecom | feishu | email | webhook
//! url = "https://oapi.dingtalk.com/robot/send?access_token=..."
//! secret = "SEC..."          # dingtalk and feishu signing secret (optional)
//!
//! [[alerts.receivers]]
//! name = "dba-mail"
//! kind = "email"
//! smtp_host = "smtp.example.org"
//! smtp_port = 587
//! starttls = true            # false: plain SMTP, to a relay on this host only; tls = true: TLS from the start (465)
//! username = "alerts@example.org"
//! password_env = "MEDLAKE_SMTP_PASSWORD"
//! from = "medlake <alerts@example.org>"
//! to = ["dba@example.org"]
//!
//! [[alerts.routes]]
//! matchers = { severity = "critical" }   # equality on labels; empty = every alert
//! receivers = ["oncall-dingtalk", "dba-mail"]
//! group_by = ["alertname"]               # "..." alone: every label
//! group_wait = "10s"
//! group_interval = "1m"
//! repeat_interval = "4h"
//! send_resolved = true
//! continue = false           # stop at the first matching route unless true
//! ```
//!
//! With no route, every alert goes to every receiver with the defaults above. What serde
//! cannot check, [`NotifyConfig::validate`] (in `validate.rs`) does.

use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

use serde::{Deserialize, Deserializer};
use url::Url;

use super::NotifyError;
use crate::series::Labels;

/// The receivers and the routes to them: the `receivers` and `routes` arrays of `[alerts]`.
#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NotifyConfig {
    /// Where messages can go.
    #[serde(default)]
    pub receivers: Vec<ReceiverConfig>,
    /// Which alerts go where, tried in order.
    #[serde(default)]
    pub routes: Vec<RouteConfig>,
}

/// The kinds of receiver medlake can deliver to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ReceiverKind {
    /// A DingTalk group's custom robot (markdown, optional signing).
    Dingtalk,
    /// A WeCom (企业微信) group robot (markdown; the key is in the URL, no signing).
    Wecom,
    /// A Feishu/Lark group's custom bot (text, optional signing).
    Feishu,
    /// Email over SMTP.
    Email,
    /// Any HTTP endpoint taking Alertmanager's webhook JSON.
    Webhook,
}

impl ReceiverKind {
    /// The name written in the config.
    pub fn as_str(self) -> &'static str {
        match self {
            ReceiverKind::Dingtalk => "dingtalk",
            ReceiverKind::Wecom => "wecom",
            ReceiverKind::Feishu => "feishu",
            ReceiverKind::Email => "email",
            ReceiverKind::Webhook => "webhook",
        }
    }

    /// Whether the kind signs its requests with a `secret` (DingTalk and Feishu do).
    pub fn signs(self) -> bool {
        matches!(self, ReceiverKind::Dingtalk | ReceiverKind::Feishu)
    }
}

/// How an email receiver talks to its SMTP server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SmtpSecurity {
    /// Plain connection upgraded with STARTTLS (required, never skipped); port 587.
    StartTls,
    /// TLS from the first byte (SMTPS); port 465.
    Tls,
    /// No encryption: only for a relay on this host; port 25.
    Plain,
}

impl SmtpSecurity {
    /// The port used when `smtp_port` is not given.
    pub fn default_port(self) -> u16 {
        match self {
            SmtpSecurity::StartTls => 587,
            SmtpSecurity::Tls => 465,
            SmtpSecurity::Plain => 25,
        }
    }
}

/// One receiver. The fields a kind does not use must be left out; `validate` says which.
/// Its `Debug` shows neither the secret nor the URL's query (a robot's access token).
#[derive(Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReceiverConfig {
    /// How routes name it.
    pub name: String,
    /// What it is.
    pub kind: ReceiverKind,
    /// The robot's or webhook's URL (robots keep their access token in its query).
    pub url: Option<String>,
    /// DingTalk's or Feishu's signing secret.
    pub secret: Option<String>,
    /// Webhook only: the `externalURL` of the JSON (where people look at alerts).
    pub external_url: Option<String>,
    /// Email: the SMTP server.
    pub smtp_host: Option<String>,
    /// Email: its port (default by security: 587, 465 or 25).
    pub smtp_port: Option<u16>,
    /// Email: `false` for plain SMTP (a relay on this host only). STARTTLS is the default.
    pub starttls: Option<bool>,
    /// Email: `true` for TLS from the start (SMTPS, port 465).
    pub tls: Option<bool>,
    /// Email: the SMTP login.
    pub username: Option<String>,
    /// Email: the environment variable holding the SMTP password.
    pub password_env: Option<String>,
    /// Never accepted: read only so that `validate` can say to use `password_env`.
    pub password: Option<toml::Value>,
    /// Email: a PEM file of CA certificates to trust besides the public ones (a mail relay
    /// with a certificate of the hospital's own CA).
    pub ca_file: Option<String>,
    /// Email: the sender (`medlake <alerts@example.org>`).
    pub from: Option<String>,
    /// Email: the recipients.
    #[serde(default)]
    pub to: Vec<String>,
}

impl ReceiverConfig {
    /// How an email receiver connects: `tls = true` wins, `starttls = false` is plain.
    pub fn smtp_security(&self) -> SmtpSecurity {
        match (self.tls, self.starttls) {
            (Some(true), _) => SmtpSecurity::Tls,
            (_, Some(false)) => SmtpSecurity::Plain,
            _ => SmtpSecurity::StartTls,
        }
    }

    /// The SMTP port: as given, or the security's default.
    pub fn smtp_port(&self) -> u16 {
        self.smtp_port
            .unwrap_or_else(|| self.smtp_security().default_port())
    }

    /// The URL as errors and logs may show it: without query string, fragment or login.
    pub fn shown_url(&self) -> String {
        self.url.as_deref().map(redact_url).unwrap_or_default()
    }
}

impl fmt::Debug for ReceiverConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ReceiverConfig")
            .field("name", &self.name)
            .field("kind", &self.kind)
            .field("url", &self.url.as_deref().map(redact_url))
            .field("secret", &self.secret.as_ref().map(|_| "<set>"))
            .field("smtp_host", &self.smtp_host)
            .field("smtp_port", &self.smtp_port)
            .field("security", &self.smtp_security())
            .field("username", &self.username)
            .field("password_env", &self.password_env)
            .field("from", &self.from)
            .field("to", &self.to)
            .finish_non_exhaustive()
    }
}

/// One route: the alerts its matchers select go to its receivers, grouped and timed by it.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RouteConfig {
    /// Label equalities an alert must all meet (a value `""` means the label is absent);
    /// none: every alert.
    #[serde(default)]
    pub matchers: BTreeMap<String, String>,
    /// Receiver names.
    pub receivers: Vec<String>,
    /// Labels whose values make a group (`["..."]`: all of them).
    #[serde(default = "default_group_by")]
    pub group_by: Vec<String>,
    /// How long a new group gathers alerts before its first message.
    #[serde(default = "default_group_wait", deserialize_with = "de_duration")]
    pub group_wait: Duration,
    /// The least time between two messages of a group that changed.
    #[serde(default = "default_group_interval", deserialize_with = "de_duration")]
    pub group_interval: Duration,
    /// How often an unchanged, still firing group is told again.
    #[serde(default = "default_repeat_interval", deserialize_with = "de_duration")]
    pub repeat_interval: Duration,
    /// Whether resolved alerts are told.
    #[serde(default = "yes")]
    pub send_resolved: bool,
    /// Whether later routes are tried after this one matched.
    #[serde(default, rename = "continue")]
    pub continue_matching: bool,
}

impl RouteConfig {
    /// The route used when none is configured: every alert to `receivers`, with defaults.
    pub fn everything(receivers: Vec<String>) -> RouteConfig {
        RouteConfig {
            matchers: BTreeMap::new(),
            receivers,
            group_by: default_group_by(),
            group_wait: default_group_wait(),
            group_interval: default_group_interval(),
            repeat_interval: default_repeat_interval(),
            send_resolved: true,
            continue_matching: false,
        }
    }

    /// Whether an alert with `labels` takes this route.
    pub fn matches(&self, labels: &Labels) -> bool {
        matchers_match(&self.matchers, labels)
    }
}

/// Whether every equality holds on `labels` (a value `""` holds when the label is absent).
pub fn matchers_match(matchers: &BTreeMap<String, String>, labels: &Labels) -> bool {
    matchers
        .iter()
        .all(|(k, v)| labels.get(k).map(String::as_str).unwrap_or("") == v)
}

fn default_group_by() -> Vec<String> {
    vec!["alertname".to_string()]
}

fn default_group_wait() -> Duration {
    Duration::from_secs(10)
}

fn default_group_interval() -> Duration {
    Duration::from_secs(60)
}

fn default_repeat_interval() -> Duration {
    Duration::from_secs(4 * 3600)
}

fn yes() -> bool {
    true
}

/// Reads a duration string field with [`parse_duration`].
fn de_duration<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Duration, D::Error> {
    let text = String::deserialize(deserializer)?;
    parse_duration(&text).map_err(serde::de::Error::custom)
}

/// `"10s"`, `"5m"`, `"4h"`, `"1d"`, `"500ms"`: the crate's one reading of durations
/// ([`crate::duration::parse_duration`]), its error as a [`NotifyError`].
pub fn parse_duration(text: &str) -> Result<Duration, NotifyError> {
    crate::duration::parse_duration(text).map_err(|reason| NotifyError::Duration {
        text: text.to_string(),
        reason,
    })
}

/// A URL as errors and logs may show it: scheme, host, port and path only (the query holds
/// robots' access tokens). Text that does not parse is cut at its first `?` or `#`.
pub fn redact_url(text: &str) -> String {
    match Url::parse(text) {
        Ok(mut url) => {
            url.set_query(None);
            url.set_fragment(None);
            let _ = url.set_password(None);
            let _ = url.set_username("");
            url.to_string()
        }
        Err(_) => text.split(['?', '#']).next().unwrap_or("").to_string(),
    }
}

impl NotifyConfig {
    /// Reads the `receivers` and `routes` arrays (the `[alerts]` table's), then validates.
    pub fn parse(text: &str) -> Result<NotifyConfig, NotifyError> {
        // The line and message only: toml's full error quotes the offending line, which
        // may hold a secret.
        let config: NotifyConfig = toml::from_str(text).map_err(|e| {
            let line = e
                .span()
                .and_then(|span| text.get(..span.start))
                .map(|before| before.matches('\n').count() + 1);
            match line {
                Some(line) => NotifyError::Config(format!("line {line}: {}", e.message())),
                None => NotifyError::Config(e.message().to_string()),
            }
        })?;
        config.validate()?;
        Ok(config)
    }

    /// The routes in force: those configured, or one sending every alert to every receiver.
    pub fn effective_routes(&self) -> Vec<RouteConfig> {
        if self.routes.is_empty() {
            let all = self.receivers.iter().map(|r| r.name.clone()).collect();
            vec![RouteConfig::everything(all)]
        } else {
            self.routes.clone()
        }
    }

    /// The receiver called `name`.
    pub fn receiver(&self, name: &str) -> Option<&ReceiverConfig> {
        self.receivers.iter().find(|r| r.name == name)
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// The documented example, without the `alerts.` prefix (the `[alerts]` table's body).
    pub(crate) const EXAMPLE: &str = r#"
        [[receivers]]
        name = "oncall-dingtalk"
        kind = "dingtalk"
        url = "https://oapi.dingtalk.com/robot/send?access_token=TOKEN123"
        secret = "SECsecret"
        [[receivers]]
        name = "dba-mail"
        kind = "email"
        smtp_host = "smtp.example.org"
        smtp_port = 587
        starttls = true
        username = "alerts@example.org"
        password_env = "MEDLAKE_SMTP_PASSWORD"
        from = "medlake <alerts@example.org>"
        to = ["dba@example.org"]
        [[routes]]
        matchers = { severity = "critical" }
        receivers = ["oncall-dingtalk", "dba-mail"]
        group_by = ["alertname"]
        group_wait = "10s"
        group_interval = "1m"
        repeat_interval = "4h"
        send_resolved = true
        continue = false
    "#;

    #[test]
    fn the_documented_example_reads_and_validates() {
        let config = NotifyConfig::parse(EXAMPLE).unwrap();
        let route = &config.routes[0];
        assert_eq!(route.group_wait, Duration::from_secs(10));
        assert_eq!(route.repeat_interval, Duration::from_secs(4 * 3600));
        assert!(!route.continue_matching);
        let mail = config.receiver("dba-mail").unwrap();
        assert_eq!(mail.smtp_security(), SmtpSecurity::StartTls);
        assert_eq!(mail.smtp_port(), 587);
        let debug = format!("{:?}", config.receiver("oncall-dingtalk").unwrap());
        assert!(
            !debug.contains("TOKEN123") && !debug.contains("SECsecret"),
            "{debug}"
        );
    }

    #[test]
    fn durations_read_and_bad_ones_are_named() {
        assert_eq!(parse_duration("500ms").unwrap(), Duration::from_millis(500));
        assert_eq!(parse_duration("5m").unwrap(), Duration::from_secs(300));
        assert_eq!(parse_duration("1d").unwrap(), Duration::from_secs(86_400));
        for bad in ["", "10", "10x", "h", "-5s", "1.5h"] {
            let e = parse_duration(bad).unwrap_err().to_string();
            assert!(
                e.starts_with("duration: ") && e.contains(&format!("{bad:?}")),
                "{e}"
            );
        }
        let e = NotifyConfig::parse(&EXAMPLE.replace("\"1m\"", "\"1 minute\"")).unwrap_err();
        let e = e.to_string();
        assert!(e.contains("line ") && e.contains("\"1 minute\""), "{e}");
    }

    #[test]
    fn with_no_route_every_alert_goes_to_every_receiver() {
        let mut config = NotifyConfig::parse(EXAMPLE).unwrap();
        config.routes.clear();
        let routes = config.effective_routes();
        assert_eq!(routes.len(), 1);
        assert_eq!(routes[0].receivers, vec!["oncall-dingtalk", "dba-mail"]);
        assert_eq!(routes[0].group_by, vec!["alertname"]);
        assert_eq!(routes[0].group_interval, Duration::from_secs(60));
        assert!(routes[0].send_resolved && routes[0].matches(&Labels::new()));
    }

    #[test]
    fn urls_shown_lose_their_query_and_login() {
        assert_eq!(
            redact_url("https://u:p@oapi.dingtalk.com/robot/send?access_token=T#x"),
            "https://oapi.dingtalk.com/robot/send"
        );
        assert_eq!(redact_url("not a url?token=T"), "not a url");
    }
}
