//! Delivery: one notification to one receiver, over HTTPS (robots, webhooks) or SMTP
//! (email), and the same with retries and a doubling backoff.
//!
//! A receiver that answers anything but 2xx has not taken the message; nor has a group
//! robot that answers 200 with a non-zero `errcode` (DingTalk, WeCom) or `code` (Feishu),
//! whose message the error carries. Errors show URLs without their query string and are
//! scrubbed of the signing secret, the access token and the SMTP password.

use std::error::Error as StdError;
use std::time::Duration;

use chrono::Utc;
use lettre::message::header::ContentType;
use lettre::message::Mailbox;
use lettre::transport::smtp::authentication::Credentials;
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use serde::Serialize;
use serde_json::Value;

use super::config::{redact_url, ReceiverConfig, ReceiverKind, SmtpSecurity};
use super::payload::{self, Notification};
use super::NotifyError;

/// How long one HTTP request may take.
const HTTP_TIMEOUT: Duration = Duration::from_secs(15);
/// How long one SMTP command may take.
const SMTP_TIMEOUT: Duration = Duration::from_secs(30);
/// The longest wait between two attempts.
const MAX_BACKOFF: Duration = Duration::from_secs(300);
/// How much of an unexpected answer an error quotes.
const ANSWER_SHOWN_CHARS: usize = 200;

/// Sends `n` to `receiver`: the kind's body, signed when the robot has a secret.
pub async fn deliver(
    receiver: &ReceiverConfig,
    n: &Notification,
    http: &reqwest::Client,
) -> Result<(), NotifyError> {
    let secret = receiver.secret.as_deref();
    match receiver.kind {
        ReceiverKind::Dingtalk => {
            let now_ms = Utc::now().timestamp_millis();
            let url = payload::dingtalk_url(url_of(receiver)?, secret, now_ms);
            post(receiver, http, &url, &payload::dingtalk_body(n), true).await
        }
        ReceiverKind::Wecom => {
            let body = payload::wecom_body(n);
            post(receiver, http, url_of(receiver)?, &body, true).await
        }
        ReceiverKind::Feishu => {
            let body = payload::feishu_body(n, secret, Utc::now().timestamp());
            post(receiver, http, url_of(receiver)?, &body, true).await
        }
        ReceiverKind::Webhook => {
            let external_url = receiver.external_url.as_deref().unwrap_or("");
            let body = payload::webhook_body(n, external_url);
            post(receiver, http, url_of(receiver)?, &body, false).await
        }
        ReceiverKind::Email => send_email(receiver, n).await,
    }
}

/// What [`deliver_with_retries`] did, for logs, the catalog and the web UI.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DeliveryOutcome {
    /// Whether the receiver took the message.
    pub ok: bool,
    /// How many attempts were made.
    pub attempts: u32,
    /// The last attempt's error (already free of secrets).
    pub error: Option<String>,
}

/// [`deliver`], tried up to `attempts` times (at least once), waiting [`backoff`] between
/// attempts; a mistake retrying cannot mend (configuration, a 4xx) stops at once.
pub async fn deliver_with_retries(
    receiver: &ReceiverConfig,
    n: &Notification,
    http: &reqwest::Client,
    attempts: u32,
    first_backoff: Duration,
) -> DeliveryOutcome {
    let attempts = attempts.max(1);
    let mut attempt = 0;
    loop {
        attempt += 1;
        let error = match deliver(receiver, n, http).await {
            Ok(()) => {
                tracing::info!(receiver = %receiver.name, group = %n.group_key, attempt,
                    "notification delivered");
                return DeliveryOutcome {
                    ok: true,
                    attempts: attempt,
                    error: None,
                };
            }
            Err(error) => error,
        };
        tracing::warn!(receiver = %receiver.name, group = %n.group_key, attempt,
            error = %error, "notification not delivered");
        if attempt >= attempts || !error.is_retryable() {
            return DeliveryOutcome {
                ok: false,
                attempts: attempt,
                error: Some(error.to_string()),
            };
        }
        tokio::time::sleep(backoff(attempt, first_backoff)).await;
    }
}

/// The wait after failed attempt `attempt` (counted from 1): `first`, doubling with each
/// attempt, at most five minutes.
pub fn backoff(attempt: u32, first: Duration) -> Duration {
    let doublings = attempt.saturating_sub(1).min(31);
    first.saturating_mul(1_u32 << doublings).min(MAX_BACKOFF)
}

/// The receiver's URL (validation makes sure robots and webhooks have one).
fn url_of(receiver: &ReceiverConfig) -> Result<&str, NotifyError> {
    receiver
        .url
        .as_deref()
        .ok_or_else(|| NotifyError::Config(format!("receiver {}: url is missing", receiver.name)))
}

/// Posts `body` as JSON to `url`; a robot's answer must also say it took the message.
async fn post(
    receiver: &ReceiverConfig,
    http: &reqwest::Client,
    url: &str,
    body: &Value,
    robot: bool,
) -> Result<(), NotifyError> {
    let shown = redact_url(url);
    let secrets = url_secrets(receiver, url);
    let failed = |e: reqwest::Error| NotifyError::Http {
        receiver: receiver.name.clone(),
        url: shown.clone(),
        reason: scrub(&chain(&e.without_url()), &secrets),
    };
    let response = http
        .post(url)
        .timeout(HTTP_TIMEOUT)
        .json(body)
        .send()
        .await
        .map_err(failed)?;
    let status = response.status();
    let answer = response.text().await.map_err(failed)?;
    if !status.is_success() {
        return Err(NotifyError::Status {
            receiver: receiver.name.clone(),
            url: shown,
            status: status.as_u16(),
            body: scrub(&shorten(&answer), &secrets),
        });
    }
    if !robot {
        return Ok(());
    }
    match robot_refusal(&answer) {
        Ok(None) => Ok(()),
        Ok(Some((code, message))) => Err(NotifyError::Robot {
            receiver: receiver.name.clone(),
            url: shown,
            code,
            message: scrub(&message, &secrets),
        }),
        Err(reason) => Err(NotifyError::Answer {
            receiver: receiver.name.clone(),
            url: shown,
            reason: scrub(&format!("{reason}: {}", shorten(&answer)), &secrets),
        }),
    }
}

/// A robot's refusal in its 200 answer: `errcode`/`errmsg` (DingTalk, WeCom), `code`/`msg`
/// (Feishu) or Feishu's older `StatusCode`/`StatusMessage`. `None` when the code is 0; an
/// error when the answer carries none of them.
fn robot_refusal(answer: &str) -> Result<Option<(i64, String)>, String> {
    let answer: Value =
        serde_json::from_str(answer).map_err(|e| format!("the answer is not JSON ({e})"))?;
    let fields = [
        ("errcode", "errmsg"),
        ("code", "msg"),
        ("StatusCode", "StatusMessage"),
    ];
    for (code, message) in fields {
        if let Some(code) = answer.get(code).and_then(Value::as_i64) {
            let message = answer.get(message).and_then(Value::as_str).unwrap_or("");
            return Ok((code != 0).then(|| (code, message.to_string())));
        }
    }
    Err("the answer has no errcode or code".into())
}

/// What errors about `url` must not show: the receiver's secret, and the URL's query with
/// each of its values, as written and decoded (the access token, the signature).
fn url_secrets(receiver: &ReceiverConfig, url: &str) -> Vec<String> {
    let mut secrets: Vec<String> = receiver.secret.iter().cloned().collect();
    if let Some((_, query)) = url.split_once('?') {
        secrets.push(query.to_string());
        for pair in query.split('&') {
            if let Some((_, value)) = pair.split_once('=') {
                secrets.push(value.to_string());
            }
        }
        for (_, value) in url::form_urlencoded::parse(query.as_bytes()) {
            secrets.push(value.into_owned());
        }
    }
    secrets
}

/// `text` with every secret of four characters or more replaced by `***`.
fn scrub(text: &str, secrets: &[String]) -> String {
    secrets
        .iter()
        .filter(|s| s.chars().count() >= 4)
        .fold(text.to_string(), |text, s| text.replace(s.as_str(), "***"))
}

/// An error and its sources, `: `-separated (reqwest's and lettre's own text is terse).
fn chain(error: &dyn StdError) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// The start of an answer, for an error message.
fn shorten(answer: &str) -> String {
    let mut short: String = answer.chars().take(ANSWER_SHOWN_CHARS).collect();
    if short.len() < answer.len() {
        short.push('…');
    }
    short
}

/// Sends `n` by email: subject the title, plain text body.
async fn send_email(receiver: &ReceiverConfig, n: &Notification) -> Result<(), NotifyError> {
    let message = email_message(receiver, n)?;
    let password = smtp_password(receiver)?;
    let secrets: Vec<String> = password.iter().cloned().collect();
    let transport = smtp_transport(receiver, password)?;
    transport
        .send(message)
        .await
        .map_err(|e| NotifyError::Smtp {
            receiver: receiver.name.clone(),
            reason: scrub(&chain(&e), &secrets),
        })?;
    Ok(())
}

/// The email: from, to, subject, plain UTF-8 text.
fn email_message(receiver: &ReceiverConfig, n: &Notification) -> Result<Message, NotifyError> {
    let bad = |reason: String| NotifyError::Email {
        receiver: receiver.name.clone(),
        reason,
    };
    let from = receiver.from.as_deref().unwrap_or("");
    let from: Mailbox = from
        .parse()
        .map_err(|e| bad(format!("from {from:?}: {e}")))?;
    let mut builder = Message::builder()
        .from(from)
        .subject(payload::title(n))
        .header(ContentType::TEXT_PLAIN);
    for to in &receiver.to {
        let to_box: Mailbox = to.parse().map_err(|e| bad(format!("to {to:?}: {e}")))?;
        builder = builder.to(to_box);
    }
    builder
        .body(payload::text(n))
        .map_err(|e| bad(e.to_string()))
}

/// The SMTP password from the variable `password_env` names (none without `password_env`).
fn smtp_password(receiver: &ReceiverConfig) -> Result<Option<String>, NotifyError> {
    let Some(var) = &receiver.password_env else {
        return Ok(None);
    };
    match std::env::var(var) {
        Ok(password) if !password.is_empty() => Ok(Some(password)),
        _ => Err(NotifyError::Password {
            receiver: receiver.name.clone(),
            var: var.clone(),
        }),
    }
}

/// TLS that also trusts the receiver's `ca_file` (none when it names none): STARTTLS
/// required, or TLS from the start, as its security says.
fn private_ca_tls(
    receiver: &ReceiverConfig,
    host: &str,
) -> Result<Option<lettre::transport::smtp::client::Tls>, NotifyError> {
    use lettre::transport::smtp::client::{Certificate, Tls, TlsParameters};
    let Some(file) = &receiver.ca_file else {
        return Ok(None);
    };
    let failed = |reason: String| NotifyError::Smtp {
        receiver: receiver.name.clone(),
        reason,
    };
    let pem =
        std::fs::read(file).map_err(|e| failed(format!("cannot read ca_file {file}: {e}")))?;
    let ca = Certificate::from_pem(&pem).map_err(|e| {
        failed(format!(
            "ca_file {file} holds no usable certificate: {}",
            chain(&e)
        ))
    })?;
    let parameters = TlsParameters::builder(host.to_string())
        .add_root_certificate(ca)
        .build_rustls()
        .map_err(|e| failed(chain(&e)))?;
    Ok(match receiver.smtp_security() {
        SmtpSecurity::Tls => Some(Tls::Wrapper(parameters)),
        SmtpSecurity::StartTls => Some(Tls::Required(parameters)),
        SmtpSecurity::Plain => None,
    })
}

/// The SMTP transport: STARTTLS (required), TLS from the start, or plain; port and login.
fn smtp_transport(
    receiver: &ReceiverConfig,
    password: Option<String>,
) -> Result<AsyncSmtpTransport<Tokio1Executor>, NotifyError> {
    let host = receiver.smtp_host.as_deref().ok_or_else(|| {
        NotifyError::Config(format!("receiver {}: smtp_host is missing", receiver.name))
    })?;
    let tls_failed = |e: lettre::transport::smtp::Error| NotifyError::Smtp {
        receiver: receiver.name.clone(),
        reason: chain(&e),
    };
    let builder = match receiver.smtp_security() {
        SmtpSecurity::StartTls => {
            AsyncSmtpTransport::<Tokio1Executor>::starttls_relay(host).map_err(tls_failed)?
        }
        SmtpSecurity::Tls => {
            AsyncSmtpTransport::<Tokio1Executor>::relay(host).map_err(tls_failed)?
        }
        SmtpSecurity::Plain => AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(host),
    };
    let mut builder = builder
        .port(receiver.smtp_port())
        .timeout(Some(SMTP_TIMEOUT));
    if let Some(tls) = private_ca_tls(receiver, host)? {
        builder = builder.tls(tls);
    }
    if let (Some(username), Some(password)) = (&receiver.username, password) {
        builder = builder.credentials(Credentials::new(username.clone(), password));
    }
    Ok(builder.build())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::notify::NotifyConfig;

    #[test]
    fn backoff_doubles_from_the_first_wait_up_to_five_minutes() {
        let first = Duration::from_secs(10);
        let waits: Vec<u64> = (1..=7).map(|a| backoff(a, first).as_secs()).collect();
        assert_eq!(waits, vec![10, 20, 40, 80, 160, 300, 300]);
        assert_eq!(backoff(0, first), first);
        assert_eq!(backoff(u32::MAX, Duration::from_millis(1)), MAX_BACKOFF);
        assert_eq!(backoff(1, Duration::from_secs(3_600)), MAX_BACKOFF);
    }

    #[test]
    fn robots_refusals_are_read_from_their_200_answers() {
        assert_eq!(robot_refusal(r#"{"errcode":0,"errmsg":"ok"}"#), Ok(None));
        assert_eq!(
            robot_refusal(r#"{"errcode":310000,"errmsg":"sign not match"}"#),
            Ok(Some((310_000, "sign not match".to_string())))
        );
        assert_eq!(
            robot_refusal(r#"{"code":19021,"msg":"sign match fail","data":{}}"#),
            Ok(Some((19_021, "sign match fail".to_string())))
        );
        assert_eq!(
            robot_refusal(r#"{"StatusCode":0,"StatusMessage":"success"}"#),
            Ok(None)
        );
        assert!(robot_refusal("ok").is_err());
        assert!(robot_refusal(r#"{"result":"ok"}"#).is_err());
    }

    #[test]
    fn errors_are_scrubbed_of_the_token_signature_and_secret() {
        let config = NotifyConfig::parse(
            "[[receivers]]\nname = \"r\"\nkind = \"dingtalk\"\n\
             url = \"https://oapi.dingtalk.com/robot/send?access_token=TOKEN123\"\n\
             secret = \"SECsecret\"\n",
        )
        .unwrap();
        let receiver = &config.receivers[0];
        let url = payload::dingtalk_url(receiver.url.as_deref().unwrap(), Some("SECsecret"), 1);
        let sign = payload::dingtalk_sign("SECsecret", 1);
        let secrets = url_secrets(receiver, &url);
        let leaked = format!("error for url ({url}) signed {sign} with SECsecret, TOKEN123");
        let clean = scrub(&leaked, &secrets);
        for secret in ["TOKEN123", "SECsecret", sign.as_str()] {
            assert!(!clean.contains(secret), "{clean}");
        }
        assert!(
            clean.contains("https://oapi.dingtalk.com/robot/send?***"),
            "{clean}"
        );
        assert_eq!(redact_url(&url), "https://oapi.dingtalk.com/robot/send");
    }

    #[test]
    fn a_missing_password_variable_is_named() {
        let config = NotifyConfig::parse(
            "[[receivers]]\nname = \"mail\"\nkind = \"email\"\nsmtp_host = \"smtp.example.org\"\n\
             username = \"u\"\npassword_env = \"MEDLAKE_TEST_UNSET_SMTP_PASSWORD_7f3a\"\n\
             from = \"medlake <alerts@example.org>\"\nto = [\"dba@example.org\"]\n",
        )
        .unwrap();
        let e = smtp_password(&config.receivers[0]).unwrap_err().to_string();
        assert_eq!(
            e,
            "receiver mail: environment variable MEDLAKE_TEST_UNSET_SMTP_PASSWORD_7f3a \
             (password_env) is not set"
        );
    }
}
