//! Notifications: who hears about an alert, how alerts are gathered into one message, and
//! how that message reaches people.
//!
//! - [`config`]: receivers (DingTalk, WeCom and Feishu group robots, email, webhooks) and
//!   the routes that send alerts to them, as written under `[alerts]` in `medlake.toml`;
//!   `validate.rs` checks them.
//! - [`dispatch`]: the grouping engine (group_wait, group_interval, repeat_interval,
//!   resolved notices, silences), deterministic and free of any network.
//! - [`payload`]: the bodies each kind of receiver takes, and the robots' signatures.
//! - [`send`]: delivery over HTTPS and SMTP, with retries.
//!
//! Nothing here carries a row value: an alert holds labels, a summary, a figure and times,
//! and a message holds nothing else. Errors and logs never carry a signing secret, a
//! robot's access token or an SMTP password.

pub mod config;
pub mod dispatch;
pub mod payload;
pub mod send;
mod validate;

use thiserror::Error;

pub use config::{parse_duration, NotifyConfig, ReceiverConfig, ReceiverKind, RouteConfig};
pub use dispatch::{Dispatcher, Silence};
pub use payload::{GroupStatus, Notification};
pub use send::{backoff, deliver, deliver_with_retries, DeliveryOutcome};

/// What can go wrong configuring receivers or delivering a notification. Messages name the
/// receiver or route, and show URLs without their query string (where robots keep their
/// access token); they never hold a secret or a password.
#[derive(Debug, Error)]
pub enum NotifyError {
    /// The receivers or routes under `[alerts]` are not usable.
    #[error("alerts config: {0}")]
    Config(String),
    /// A duration (`group_wait`, ...) that does not read.
    #[error("duration: {reason}")]
    Duration {
        /// What was written.
        text: String,
        /// What is wrong with it (quoting the text).
        reason: String,
    },
    /// The request did not complete (connection, TLS, timeout).
    #[error("receiver {receiver}: request to {url} failed: {reason}")]
    Http {
        /// The receiver's name.
        receiver: String,
        /// The URL without its query string.
        url: String,
        /// What failed.
        reason: String,
    },
    /// The receiver answered with a status other than 2xx.
    #[error("receiver {receiver}: {url} answered {status}: {body}")]
    Status {
        /// The receiver's name.
        receiver: String,
        /// The URL without its query string.
        url: String,
        /// The HTTP status.
        status: u16,
        /// The start of the answer's body.
        body: String,
    },
    /// A group robot answered 200 with a non-zero `errcode` (or `code`).
    #[error("receiver {receiver}: {url} refused the message: code {code}: {message}")]
    Robot {
        /// The receiver's name.
        receiver: String,
        /// The URL without its query string.
        url: String,
        /// The robot's error code.
        code: i64,
        /// The robot's `errmsg` (or `msg`).
        message: String,
    },
    /// A group robot answered 200 without the JSON status it always sends.
    #[error("receiver {receiver}: {url} answered without a robot's JSON status: {reason}")]
    Answer {
        /// The receiver's name.
        receiver: String,
        /// The URL without its query string.
        url: String,
        /// What was wrong with the answer.
        reason: String,
    },
    /// The environment variable holding the SMTP password is not set.
    #[error("receiver {receiver}: environment variable {var} (password_env) is not set")]
    Password {
        /// The receiver's name.
        receiver: String,
        /// The variable's name.
        var: String,
    },
    /// The email could not be composed (an address that does not parse).
    #[error("receiver {receiver}: email: {reason}")]
    Email {
        /// The receiver's name.
        receiver: String,
        /// What is wrong.
        reason: String,
    },
    /// The SMTP server could not be reached or refused the message.
    #[error("receiver {receiver}: SMTP: {reason}")]
    Smtp {
        /// The receiver's name.
        receiver: String,
        /// What failed.
        reason: String,
    },
}

impl NotifyError {
    /// Whether trying again later may succeed: not for a configuration mistake, nor for an
    /// HTTP 4xx other than 408 (timeout) and 429 (too many requests).
    pub fn is_retryable(&self) -> bool {
        match self {
            NotifyError::Config(_)
            | NotifyError::Duration { .. }
            | NotifyError::Password { .. }
            | NotifyError::Email { .. } => false,
            NotifyError::Status { status, .. } => {
                !(400..500).contains(status) || *status == 408 || *status == 429
            }
            NotifyError::Http { .. }
            | NotifyError::Robot { .. }
            | NotifyError::Answer { .. }
            | NotifyError::Smtp { .. } => true,
        }
    }
}
