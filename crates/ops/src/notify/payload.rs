//! The messages: one [`Notification`] (a group of alerts for one receiver) as the text
//! people read, and as the JSON body each kind of receiver takes. Robots' signatures are
//! here too, public so that tests and a test receiver can check them against the vendors'
//! documented algorithms.
//!
//! A message holds an alert's labels, summary, value and times, nothing else: alerts never
//! carry row values, and nothing is added here.

use base64::Engine;
use chrono::{DateTime, FixedOffset, SecondsFormat, Utc};
use hmac::{Hmac, Mac};
use serde::Serialize;
use serde_json::{json, Value};
use sha2::Sha256;

use crate::alerts::{Alert, AlertState};
use crate::series::Labels;

/// DingTalk's markdown text is limited to 20,000 bytes; a margin for the JSON around it.
const DINGTALK_MAX_BYTES: usize = 18_000;
/// WeCom's markdown content is limited to 4,096 bytes.
const WECOM_MAX_BYTES: usize = 4_000;
/// Feishu's request body is limited to 20 KB.
const FEISHU_MAX_BYTES: usize = 18_000;
/// Room kept for the "… and N more" line when a message is cut.
const MORE_LINE_BYTES: usize = 40;
/// Alertmanager's `endsAt` of an alert that has not ended (Go's zero time).
const NOT_ENDED: &str = "0001-01-01T00:00:00Z";

/// Whether a group, as told, still fires.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum GroupStatus {
    /// At least one of its alerts fires.
    Firing,
    /// Every one of its alerts has resolved.
    Resolved,
}

impl GroupStatus {
    /// `firing` or `resolved`, as messages write it.
    pub fn as_str(self) -> &'static str {
        match self {
            GroupStatus::Firing => "firing",
            GroupStatus::Resolved => "resolved",
        }
    }
}

/// One message to one receiver: a group's alerts, as the dispatcher decided to tell them.
#[derive(Debug, Clone, PartialEq)]
pub struct Notification {
    /// The receiver's name.
    pub receiver: String,
    /// The group's identity: the route's position and the group labels.
    pub group_key: String,
    /// The values of the route's `group_by` labels shared by the group's alerts.
    pub group_labels: Labels,
    /// Firing if any alert in it fires.
    pub status: GroupStatus,
    /// The alerts told: firing ones, and resolved ones when the route sends those.
    pub alerts: Vec<Alert>,
}

impl Notification {
    /// A notification of `alerts`, its status derived from them.
    pub fn new(receiver: &str, group_key: &str, group_labels: Labels, alerts: Vec<Alert>) -> Self {
        let status = if alerts.iter().any(|a| a.state == AlertState::Firing) {
            GroupStatus::Firing
        } else {
            GroupStatus::Resolved
        };
        Notification {
            receiver: receiver.to_string(),
            group_key: group_key.to_string(),
            group_labels,
            status,
            alerts,
        }
    }

    /// How many of its alerts fire.
    pub fn firing(&self) -> usize {
        self.alerts
            .iter()
            .filter(|a| a.state == AlertState::Firing)
            .count()
    }
}

/// `{k="v", k2="v2"}`, the way Prometheus writes a label set.
pub fn label_set(labels: &Labels) -> String {
    let pairs: Vec<String> = labels.iter().map(|(k, v)| format!("{k}={v:?}")).collect();
    format!("{{{}}}", pairs.join(", "))
}

/// A time as people at the business read it: UTC+08:00, `2026-03-03 01:45:10 +08:00`.
pub fn business_time(at: DateTime<Utc>) -> String {
    let offset = FixedOffset::east_opt(8 * 3600).expect("+08:00 is a valid offset");
    at.with_timezone(&offset)
        .format("%Y-%m-%d %H:%M:%S %:z")
        .to_string()
}

/// `[FIRING:2] BuildFailed` or `[RESOLVED] BuildFailed`: the group labels' values (the
/// alerts' names when the route groups by nothing).
pub fn title(n: &Notification) -> String {
    let name = if n.group_labels.is_empty() {
        let mut rules: Vec<&str> = n.alerts.iter().map(|a| a.rule.as_str()).collect();
        rules.sort_unstable();
        rules.dedup();
        rules.join(", ")
    } else {
        let values: Vec<&str> = n.group_labels.values().map(String::as_str).collect();
        values.join(" ")
    };
    match n.status {
        GroupStatus::Firing => format!("[FIRING:{}] {name}", n.firing()),
        GroupStatus::Resolved => format!("[RESOLVED] {name}"),
    }
}

/// One alert in one line: severity, summary, labels other than alertname and severity,
/// and when it started (and ended).
pub fn alert_line(a: &Alert) -> String {
    let labels: Labels = a
        .labels
        .iter()
        .filter(|(k, _)| k.as_str() != "alertname" && k.as_str() != "severity")
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    let mut parts = vec![format!("[{}]", a.severity()), a.summary.clone()];
    if !labels.is_empty() {
        parts.push(label_set(&labels));
    }
    parts.push(format!("since {}", business_time(a.starts_at)));
    match (a.state, a.ends_at) {
        (AlertState::Resolved, Some(end)) => parts.push(format!("resolved {}", business_time(end))),
        (AlertState::Resolved, None) => parts.push("resolved".to_string()),
        _ => {}
    }
    parts.join(" ")
}

/// The plain text: the title, then one line per alert (email's body).
pub fn text(n: &Notification) -> String {
    let lines: Vec<String> = n.alerts.iter().map(alert_line).collect();
    fit(title(n), &lines, usize::MAX)
}

/// The title as a heading and the alerts as a list, cut to `max_bytes` (robots' limits).
pub fn markdown(n: &Notification, max_bytes: usize) -> String {
    let lines: Vec<String> = n
        .alerts
        .iter()
        .map(|a| format!("- {}", alert_line(a)))
        .collect();
    fit(format!("### {}\n", title(n)), &lines, max_bytes)
}

/// `head`, then as many whole lines as fit in `max_bytes`, then how many were left out.
fn fit(head: String, lines: &[String], max_bytes: usize) -> String {
    let budget = max_bytes.saturating_sub(MORE_LINE_BYTES);
    let mut out = head;
    for (i, line) in lines.iter().enumerate() {
        if out.len() + 1 + line.len() > budget {
            out.push_str(&format!("\n… and {} more", lines.len() - i));
            break;
        }
        out.push('\n');
        out.push_str(line);
    }
    out
}

/// Base64 of HMAC-SHA256 of `message` under `key`.
fn hmac_base64(key: &[u8], message: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("HMAC takes a key of any length");
    mac.update(message);
    base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
}

/// DingTalk's signature (base64, before URL encoding): HMAC-SHA256 under the secret of
/// `"{timestamp_ms}\n{secret}"`.
pub fn dingtalk_sign(secret: &str, timestamp_ms: i64) -> String {
    let string_to_sign = format!("{timestamp_ms}\n{secret}");
    hmac_base64(secret.as_bytes(), string_to_sign.as_bytes())
}

/// The URL to post to: with a secret, `timestamp` and the URL-encoded `sign` appended.
pub fn dingtalk_url(url: &str, secret: Option<&str>, timestamp_ms: i64) -> String {
    let Some(secret) = secret else {
        return url.to_string();
    };
    let sign: String =
        url::form_urlencoded::byte_serialize(dingtalk_sign(secret, timestamp_ms).as_bytes())
            .collect();
    let separator = if url.contains('?') { '&' } else { '?' };
    format!("{url}{separator}timestamp={timestamp_ms}&sign={sign}")
}

/// DingTalk's custom robot body: markdown with the title.
pub fn dingtalk_body(n: &Notification) -> Value {
    json!({
        "msgtype": "markdown",
        "markdown": { "title": title(n), "text": markdown(n, DINGTALK_MAX_BYTES) },
    })
}

/// Feishu's signature: base64 of HMAC-SHA256 whose KEY is `"{timestamp_s}\n{secret}"` and
/// whose message is empty.
pub fn feishu_sign(secret: &str, timestamp_s: i64) -> String {
    let string_to_sign = format!("{timestamp_s}\n{secret}");
    hmac_base64(string_to_sign.as_bytes(), &[])
}

/// Feishu's custom bot body: text, with `timestamp` (seconds, as a string) and `sign` when
/// the bot has a secret.
pub fn feishu_body(n: &Notification, secret: Option<&str>, timestamp_s: i64) -> Value {
    let lines: Vec<String> = n.alerts.iter().map(alert_line).collect();
    let mut body = json!({
        "msg_type": "text",
        "content": { "text": fit(title(n), &lines, FEISHU_MAX_BYTES) },
    });
    if let Some(secret) = secret {
        body["timestamp"] = json!(timestamp_s.to_string());
        body["sign"] = json!(feishu_sign(secret, timestamp_s));
    }
    body
}

/// WeCom's group robot body: markdown (the robot's key is in the URL; no signing).
pub fn wecom_body(n: &Notification) -> Value {
    json!({
        "msgtype": "markdown",
        "markdown": { "content": markdown(n, WECOM_MAX_BYTES) },
    })
}

/// Alertmanager's webhook JSON (version 4), so tools written for Alertmanager take it.
pub fn webhook_body(n: &Notification, external_url: &str) -> Value {
    let alerts: Vec<Value> = n.alerts.iter().map(webhook_alert).collect();
    json!({
        "version": "4",
        "groupKey": n.group_key,
        "truncatedAlerts": 0,
        "status": n.status.as_str(),
        "receiver": n.receiver,
        "groupLabels": n.group_labels,
        "commonLabels": common_labels(&n.alerts),
        "commonAnnotations": common_annotations(&n.alerts),
        "externalURL": external_url,
        "alerts": alerts,
    })
}

/// One alert of the webhook JSON.
fn webhook_alert(a: &Alert) -> Value {
    let (status, ends_at) = match (a.state, a.ends_at) {
        (AlertState::Resolved, Some(end)) => ("resolved", rfc3339(end)),
        (AlertState::Resolved, None) => ("resolved", rfc3339(a.starts_at)),
        _ => ("firing", NOT_ENDED.to_string()),
    };
    json!({
        "status": status,
        "labels": a.labels,
        "annotations": { "summary": a.summary },
        "startsAt": rfc3339(a.starts_at),
        "endsAt": ends_at,
        "generatorURL": "",
        "fingerprint": a.fingerprint(),
    })
}

/// `2026-03-02T17:45:10Z`, fractions of a second only when there are some.
fn rfc3339(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::AutoSi, true)
}

/// The labels every alert has, with the same value.
fn common_labels(alerts: &[Alert]) -> Labels {
    let Some((first, rest)) = alerts.split_first() else {
        return Labels::new();
    };
    first
        .labels
        .iter()
        .filter(|(k, v)| rest.iter().all(|a| a.labels.get(*k) == Some(*v)))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

/// The summary, when every alert has the same one.
fn common_annotations(alerts: &[Alert]) -> Labels {
    match alerts.split_first() {
        Some((first, rest)) if rest.iter().all(|a| a.summary == first.summary) => {
            Labels::from([("summary".to_string(), first.summary.clone())])
        }
        _ => Labels::new(),
    }
}

#[cfg(test)]
#[path = "payload_tests.rs"]
pub(crate) mod tests;
