//! What serde cannot check of the receivers and routes: names unique and known, each
//! kind's fields present and only those, URLs http(s), addresses that parse, no password
//! in the file, plain SMTP only to this host. Each mistake is one line naming the receiver
//! or the route, and never quotes a URL (robots keep their token in it) or a secret.

use std::collections::BTreeSet;
use std::net::IpAddr;

use url::Url;

use super::config::{NotifyConfig, ReceiverConfig, ReceiverKind, RouteConfig, SmtpSecurity};
use super::payload::label_set;
use super::NotifyError;

impl NotifyConfig {
    /// Checks what serde cannot: names unique and known, each kind's fields present and
    /// only those, URLs http(s), no password in the file. The first mistake, in one line
    /// naming the receiver or the route.
    pub fn validate(&self) -> Result<(), NotifyError> {
        let mut names = BTreeSet::new();
        for (i, receiver) in self.receivers.iter().enumerate() {
            if receiver.name.trim().is_empty() {
                return Err(NotifyError::Config(format!(
                    "receiver {} ({}) has no name",
                    i + 1,
                    receiver.kind.as_str()
                )));
            }
            if !names.insert(receiver.name.as_str()) {
                return Err(NotifyError::Config(format!(
                    "receiver {}: the name is used by another receiver",
                    receiver.name
                )));
            }
            check_receiver(receiver).map_err(|reason| {
                NotifyError::Config(format!("receiver {}: {reason}", receiver.name))
            })?;
        }
        for (i, route) in self.routes.iter().enumerate() {
            check_route(route, &names).map_err(|reason| {
                let selects = if route.matchers.is_empty() {
                    "every alert".to_string()
                } else {
                    label_set(&route.matchers)
                };
                NotifyError::Config(format!("route {} ({selects}): {reason}", i + 1))
            })?;
        }
        Ok(())
    }
}

/// A receiver's own rules.
fn check_receiver(r: &ReceiverConfig) -> Result<(), String> {
    if r.password.is_some() {
        return Err(
            "a password is not read from the file: use password_env, the name of \
                    the environment variable holding it"
                .into(),
        );
    }
    if let Some(secret) = &r.secret {
        if !r.kind.signs() {
            return Err(format!(
                "kind {} does not sign requests: remove secret (only dingtalk and feishu \
                 take one)",
                r.kind.as_str()
            ));
        }
        if secret.is_empty() {
            return Err("secret is empty".into());
        }
    }
    if r.external_url.is_some() && r.kind != ReceiverKind::Webhook {
        return Err("external_url is for webhook receivers only".into());
    }
    match r.kind {
        ReceiverKind::Email => check_email(r),
        _ => check_http(r),
    }
}

/// A robot or webhook: a URL, and no email field.
fn check_http(r: &ReceiverConfig) -> Result<(), String> {
    let email_fields = [
        ("smtp_host", r.smtp_host.is_some()),
        ("smtp_port", r.smtp_port.is_some()),
        ("starttls", r.starttls.is_some()),
        ("tls", r.tls.is_some()),
        ("username", r.username.is_some()),
        ("password_env", r.password_env.is_some()),
        ("ca_file", r.ca_file.is_some()),
        ("from", r.from.is_some()),
        ("to", !r.to.is_empty()),
    ];
    if let Some((field, _)) = email_fields.iter().find(|(_, set)| *set) {
        return Err(format!(
            "{field} is for email receivers, not {}",
            r.kind.as_str()
        ));
    }
    let url = r.url.as_deref().ok_or("url is missing")?;
    check_url("url", url)?;
    match &r.external_url {
        Some(external) => check_url("external_url", external),
        None => Ok(()),
    }
}

/// A URL that parses and is http or https. The message never quotes it (tokens).
fn check_url(field: &str, text: &str) -> Result<(), String> {
    let url = Url::parse(text).map_err(|e| format!("{field} does not parse: {e}"))?;
    match url.scheme() {
        "http" | "https" => Ok(()),
        other => Err(format!("{field} is {other}:, not http or https")),
    }
}

/// An email receiver: server, sender and recipients that parse, credentials in pairs,
/// plain SMTP only to this host.
fn check_email(r: &ReceiverConfig) -> Result<(), String> {
    if r.url.is_some() {
        return Err("url is for robots and webhooks; email takes smtp_host".into());
    }
    let host = r
        .smtp_host
        .as_deref()
        .filter(|h| !h.trim().is_empty())
        .ok_or("smtp_host is missing")?;
    if r.tls == Some(true) && r.starttls == Some(true) {
        return Err(
            "starttls and tls exclude each other: starttls upgrades a plain \
                    connection (587), tls is TLS from the start (465)"
                .into(),
        );
    }
    if r.ca_file.is_some() && r.smtp_security() == SmtpSecurity::Plain {
        return Err("ca_file needs TLS: leave starttls on, or set tls = true".into());
    }
    let from = r.from.as_deref().ok_or("from is missing")?;
    from.parse::<lettre::message::Mailbox>()
        .map_err(|e| format!("from {from:?} is not an address: {e}"))?;
    if r.to.is_empty() {
        return Err("to is empty: give at least one recipient".into());
    }
    for to in &r.to {
        to.parse::<lettre::message::Mailbox>()
            .map_err(|e| format!("to {to:?} is not an address: {e}"))?;
    }
    match (&r.username, &r.password_env) {
        (Some(_), None) => return Err("username is given without password_env".into()),
        (None, Some(_)) => return Err("password_env is given without username".into()),
        _ => {}
    }
    if r.smtp_security() == SmtpSecurity::Plain && !is_this_host(host) {
        return Err(format!(
            "plain SMTP (starttls = false) is only for a relay on this host, not {host}: \
             use starttls or tls"
        ));
    }
    Ok(())
}

/// `localhost` or a loopback address.
fn is_this_host(host: &str) -> bool {
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    bare.eq_ignore_ascii_case("localhost")
        || bare.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

/// A route's own rules, given the receivers' names.
fn check_route(route: &RouteConfig, names: &BTreeSet<&str>) -> Result<(), String> {
    if route.receivers.is_empty() {
        return Err("receivers is empty".into());
    }
    let mut seen = BTreeSet::new();
    for name in &route.receivers {
        if !names.contains(name.as_str()) {
            return Err(format!("receiver {name} is not among the receivers"));
        }
        if !seen.insert(name) {
            return Err(format!("receiver {name} is listed twice"));
        }
    }
    if route.group_by.iter().any(|l| l.trim().is_empty()) {
        return Err("group_by holds an empty label name".into());
    }
    if route.group_by.len() > 1 && route.group_by.iter().any(|l| l == "...") {
        return Err("group_by \"...\" (every label) stands alone".into());
    }
    if route.group_interval.is_zero() || route.repeat_interval.is_zero() {
        return Err("group_interval and repeat_interval are above zero".into());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use crate::notify::config::tests::EXAMPLE;
    use crate::notify::NotifyConfig;

    /// The error `parse` gives for the example with `from` replaced by `to`.
    fn error_of(from: &str, to: &str) -> String {
        match NotifyConfig::parse(&EXAMPLE.replace(from, to)) {
            Ok(_) => panic!("{to:?} was accepted"),
            Err(e) => e.to_string(),
        }
    }

    #[test]
    fn validation_names_the_receiver_or_route_and_never_the_secret() {
        let cases = [
            (
                "\"oncall-dingtalk\", \"dba-mail\"]",
                "\"oncall\", \"dba-mail\"]",
                "route 1 ({severity=\"critical\"}): receiver oncall is not among",
            ),
            (
                "name = \"dba-mail\"",
                "name = \"oncall-dingtalk\"",
                "receiver oncall-dingtalk: the name is used",
            ),
            (
                "to = [\"dba@example.org\"]",
                "to = []",
                "receiver dba-mail: to is empty",
            ),
            (
                "from = \"medlake <alerts@example.org>\"",
                "",
                "receiver dba-mail: from is missing",
            ),
            (
                "smtp_host = \"smtp.example.org\"",
                "",
                "receiver dba-mail: smtp_host is missing",
            ),
            (
                "https://oapi",
                "ftp://oapi",
                "receiver oncall-dingtalk: url is ftp:",
            ),
            (
                "https://oapi",
                "https//oapi",
                "receiver oncall-dingtalk: url does not parse",
            ),
            (
                "kind = \"dingtalk\"",
                "kind = \"wecom\"",
                "kind wecom does not sign",
            ),
            (
                "password_env = \"MEDLAKE_SMTP_PASSWORD\"",
                "password = \"hunter2\"",
                "use password_env",
            ),
            (
                "starttls = true",
                "starttls = false",
                "plain SMTP (starttls = false) is only for a relay",
            ),
            (
                "starttls = true",
                "starttls = true\ntls = true",
                "exclude each other",
            ),
            (
                "smtp_port = 587",
                "smtp_port = 587\nurl = \"https://x.org/\"",
                "url is for",
            ),
            (
                "secret = \"SECsecret\"",
                "secret = \"SECsecret\"\nto = [\"a@b.org\"]",
                "to is for email",
            ),
        ];
        for (from, to, expected) in cases {
            let e = error_of(from, to);
            assert!(e.contains(expected), "{to}: {e}");
            for secret in ["TOKEN123", "SECsecret", "hunter2"] {
                assert!(!e.contains(secret), "{e}");
            }
        }
        assert!(error_of("continue = false", "continu = false").contains("unknown field"));
    }

    #[test]
    fn plain_smtp_to_this_host_is_accepted() {
        let local = EXAMPLE
            .replace("starttls = true", "starttls = false")
            .replace("smtp.example.org", "127.0.0.1");
        let config = NotifyConfig::parse(&local).unwrap();
        let mail = config.receiver("dba-mail").unwrap();
        assert_eq!(
            mail.smtp_security(),
            crate::notify::config::SmtpSecurity::Plain
        );
    }
}
