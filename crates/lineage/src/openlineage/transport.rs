//! Delivering run events: appended to a JSON-lines file, posted to an OpenLineage HTTP
//! endpoint (Marquez's `POST /api/v1/lineage`), both or neither.
//!
//! Delivery never fails its caller: a build does not fail because lineage could not be
//! delivered. An event that could not be delivered (after its retries, for HTTP) is logged
//! with `tracing::warn` (never with its body) and counted in `Emitter::counts`.

use std::fmt;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use reqwest::header::CONTENT_TYPE;
use reqwest::{Client, StatusCode, Url};
use serde_json::Value;
use tokio::sync::Mutex;

/// The path of the OpenLineage HTTP API that receives run events.
const LINEAGE_PATH: &str = "/api/v1/lineage";
/// The wait before the first retry; each further retry waits twice as long.
const FIRST_BACKOFF: Duration = Duration::from_millis(200);
/// The longest wait between two attempts.
const MAX_BACKOFF: Duration = Duration::from_secs(5);
/// The request timeout when the configuration leaves it at zero.
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);

/// Where events go: a JSON-lines file, an HTTP endpoint (the Marquez/OpenLineage
/// `POST {url}/api/v1/lineage` contract), both or neither.
#[derive(Clone, Default)]
pub struct TransportConfig {
    /// The JSON-lines file events are appended to (parent folders are created).
    pub file: Option<PathBuf>,
    /// The endpoint's base URL (`http://host:5000`), or the full `…/api/v1/lineage` URL.
    pub url: Option<String>,
    /// Sent as `Authorization: Bearer <api_key>` when set.
    pub api_key: Option<String>,
    /// Attempts after the first for a failed HTTP delivery that may succeed later.
    pub retries: u32,
    /// Timeout of one HTTP attempt; zero means 10 s.
    pub timeout: Duration,
}

/// By hand, so that the API key never reaches a log.
impl fmt::Debug for TransportConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TransportConfig")
            .field("file", &self.file)
            .field("url", &self.url)
            .field("api_key", &self.api_key.as_ref().map(|_| "<redacted>"))
            .field("retries", &self.retries)
            .field("timeout", &self.timeout)
            .finish()
    }
}

/// Why a configured endpoint cannot be used, for checking configuration up front.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TransportError {
    /// The URL does not parse.
    #[error("OpenLineage URL {url:?} is not a valid URL: {reason}")]
    InvalidUrl {
        /// The URL as configured.
        url: String,
        /// Why it does not parse.
        reason: String,
    },
    /// The URL is not http or https.
    #[error("OpenLineage URL {url:?} has scheme {scheme:?}; only http and https are supported")]
    UnsupportedScheme {
        /// The URL as configured.
        url: String,
        /// Its scheme.
        scheme: String,
    },
    /// The HTTP client could not be set up.
    #[error("OpenLineage HTTP client could not be built: {0}")]
    Client(String),
}

/// Checks an endpoint URL as `Emitter::new` would use it, so that a bad URL is reported
/// when the configuration is read rather than as failed deliveries later.
pub fn validate_url(url: &str) -> Result<(), TransportError> {
    lineage_endpoint(url).map(|_| ())
}

/// The URL events are posted to: `url` with `/api/v1/lineage` appended unless it already
/// ends with it.
fn lineage_endpoint(url: &str) -> Result<Url, TransportError> {
    let mut endpoint = Url::parse(url.trim()).map_err(|error| TransportError::InvalidUrl {
        url: url.to_owned(),
        reason: error.to_string(),
    })?;
    if !matches!(endpoint.scheme(), "http" | "https") {
        return Err(TransportError::UnsupportedScheme {
            url: url.to_owned(),
            scheme: endpoint.scheme().to_owned(),
        });
    }
    let path = endpoint.path().trim_end_matches('/').to_owned();
    if path.ends_with(LINEAGE_PATH) {
        endpoint.set_path(&path);
    } else {
        endpoint.set_path(&format!("{path}{LINEAGE_PATH}"));
    }
    Ok(endpoint)
}

/// How many deliveries succeeded and failed. Each transport counts on its own: an event
/// sent to both a file and an endpoint is two deliveries.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DeliveryCounts {
    /// Deliveries that succeeded.
    pub delivered: u64,
    /// Deliveries that failed (after their retries).
    pub failed: u64,
}

/// Delivers events; never fails its caller (a build never fails because lineage delivery
/// failed): a delivery that fails after its retries is logged and counted. Cheap to clone;
/// clones share the transports and the counts.
#[derive(Clone)]
pub struct Emitter {
    inner: Arc<Inner>,
}

/// What the clones of an emitter share.
struct Inner {
    file: Option<FileSink>,
    http: Option<HttpSink>,
    delivered: AtomicU64,
    failed: AtomicU64,
}

impl Inner {
    /// Counts one delivery.
    fn record(&self, delivered: bool) {
        let counter = if delivered {
            &self.delivered
        } else {
            &self.failed
        };
        counter.fetch_add(1, Ordering::Relaxed);
    }
}

impl Emitter {
    /// An emitter for `config`. A blank file path or URL counts as none; a URL that cannot
    /// be used does not panic: every delivery to it fails (counted, warned about once).
    pub fn new(config: TransportConfig) -> Emitter {
        let url = config
            .url
            .as_deref()
            .map(str::trim)
            .filter(|url| !url.is_empty());
        let http = url.map(|url| HttpSink::new(url, &config));
        let file = config.file.filter(|path| !path.as_os_str().is_empty());
        Emitter {
            inner: Arc::new(Inner {
                file: file.map(FileSink::new),
                http,
                delivered: AtomicU64::new(0),
                failed: AtomicU64::new(0),
            }),
        }
    }

    /// An emitter that delivers nothing, for runs with lineage switched off.
    pub fn disabled() -> Emitter {
        Emitter::new(TransportConfig::default())
    }

    /// Whether events go anywhere, so callers can skip building them when not.
    pub fn is_enabled(&self) -> bool {
        self.inner.file.is_some() || self.inner.http.is_some()
    }

    /// Delivers `event` to every configured transport. Never fails: failures are logged
    /// and counted.
    pub async fn emit(&self, event: &Value) {
        if !self.is_enabled() {
            return;
        }
        let body = match serde_json::to_string(event) {
            Ok(body) => body,
            Err(error) => {
                let transports =
                    u64::from(self.inner.file.is_some()) + u64::from(self.inner.http.is_some());
                self.inner.failed.fetch_add(transports, Ordering::Relaxed);
                tracing::warn!(%error, "OpenLineage event could not be serialised");
                return;
            }
        };
        if let Some(file) = &self.inner.file {
            self.deliver_to_file(file, &body, event).await;
        }
        if let Some(http) = &self.inner.http {
            self.deliver_to_http(http, &body, event).await;
        }
    }

    /// How many deliveries succeeded and failed so far, over all transports.
    pub fn counts(&self) -> DeliveryCounts {
        DeliveryCounts {
            delivered: self.inner.delivered.load(Ordering::Relaxed),
            failed: self.inner.failed.load(Ordering::Relaxed),
        }
    }

    /// Appends the event to the file.
    async fn deliver_to_file(&self, file: &FileSink, body: &str, event: &Value) {
        let result = file.append(format!("{body}\n")).await;
        self.inner.record(result.is_ok());
        if let Err(error) = result {
            tracing::warn!(
                path = %file.path.display(),
                run_id = run_id(event),
                %error,
                "OpenLineage event not written to its file"
            );
        }
    }

    /// Posts the event to the endpoint.
    async fn deliver_to_http(&self, http: &HttpSink, body: &str, event: &Value) {
        match http {
            HttpSink::Ready(target) => {
                let result = target.deliver(body).await;
                self.inner.record(result.is_ok());
                if let Err(failure) = result {
                    tracing::warn!(
                        endpoint = %target.shown,
                        attempts = failure.attempts,
                        run_id = run_id(event),
                        error = %failure.message,
                        "OpenLineage event not delivered"
                    );
                }
            }
            HttpSink::Broken { error, warned } => {
                self.inner.record(false);
                if !warned.swap(true, Ordering::Relaxed) {
                    tracing::warn!(%error, "OpenLineage events cannot be delivered over HTTP");
                }
            }
        }
    }
}

/// By hand: shows where events go and the counts, never the API key.
impl fmt::Debug for Emitter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Emitter")
            .field("file", &self.inner.file.as_ref().map(|file| &file.path))
            .field("http", &self.inner.http.as_ref().map(HttpSink::describe))
            .field("counts", &self.counts())
            .finish()
    }
}

/// The run id of an event, for logging a failed delivery without its body.
fn run_id(event: &Value) -> &str {
    event
        .pointer("/run/runId")
        .and_then(Value::as_str)
        .unwrap_or("-")
}

/// A JSON-lines file; the lock keeps concurrent events on lines of their own.
struct FileSink {
    path: PathBuf,
    lock: Mutex<()>,
}

impl FileSink {
    /// The sink appending to `path`.
    fn new(path: PathBuf) -> FileSink {
        FileSink {
            path,
            lock: Mutex::new(()),
        }
    }

    /// Appends `line` (newline included), off the async threads.
    async fn append(&self, line: String) -> std::io::Result<()> {
        let _guard = self.lock.lock().await;
        let path = self.path.clone();
        match tokio::task::spawn_blocking(move || append_line(&path, &line)).await {
            Ok(result) => result,
            Err(error) => Err(std::io::Error::other(error.to_string())),
        }
    }
}

/// Appends `line` to the file at `path`, creating the file and its folders.
fn append_line(path: &Path, line: &str) -> std::io::Result<()> {
    if let Some(parent) = path
        .parent()
        .filter(|parent| !parent.as_os_str().is_empty())
    {
        std::fs::create_dir_all(parent)?;
    }
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)?;
    file.write_all(line.as_bytes())
}

/// An HTTP endpoint, or why the configured one cannot be used.
enum HttpSink {
    /// A usable endpoint.
    Ready(HttpTarget),
    /// An unusable one: every delivery fails, the first is warned about.
    Broken {
        error: TransportError,
        warned: AtomicBool,
    },
}

impl HttpSink {
    /// The sink for `url`, broken if the URL or the client is.
    fn new(url: &str, config: &TransportConfig) -> HttpSink {
        match HttpTarget::new(url, config) {
            Ok(target) => HttpSink::Ready(target),
            Err(error) => HttpSink::Broken {
                error,
                warned: AtomicBool::new(false),
            },
        }
    }

    /// Where events go, for `Debug`.
    fn describe(&self) -> String {
        match self {
            HttpSink::Ready(target) => target.shown.clone(),
            HttpSink::Broken { error, .. } => format!("unusable: {error}"),
        }
    }
}

/// A usable endpoint with its client.
struct HttpTarget {
    client: Client,
    endpoint: Url,
    /// The endpoint without credentials, for logs.
    shown: String,
    api_key: Option<String>,
    retries: u32,
}

/// Why one attempt failed, and whether another may succeed.
struct AttemptError {
    retryable: bool,
    message: String,
}

/// Why a delivery failed after all its attempts.
struct DeliveryError {
    attempts: u32,
    message: String,
}

impl HttpTarget {
    /// The target for `url` with the configured timeout, key and retries.
    fn new(url: &str, config: &TransportConfig) -> Result<HttpTarget, TransportError> {
        let endpoint = lineage_endpoint(url)?;
        let timeout = if config.timeout.is_zero() {
            DEFAULT_TIMEOUT
        } else {
            config.timeout
        };
        let client = Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout)
            .build()
            .map_err(|error| TransportError::Client(error.to_string()))?;
        let shown = format!(
            "{}{}",
            endpoint.origin().ascii_serialization(),
            endpoint.path()
        );
        Ok(HttpTarget {
            client,
            endpoint,
            shown,
            api_key: config.api_key.clone(),
            retries: config.retries,
        })
    }

    /// Posts `body`, retrying with exponential backoff while a failure may be transient.
    async fn deliver(&self, body: &str) -> Result<(), DeliveryError> {
        let mut attempt = 0;
        loop {
            match self.send(body).await {
                Ok(()) => return Ok(()),
                Err(error) if error.retryable && attempt < self.retries => {
                    tokio::time::sleep(backoff(attempt)).await;
                    attempt += 1;
                }
                Err(error) => {
                    let attempts = attempt + 1;
                    return Err(DeliveryError {
                        attempts,
                        message: error.message,
                    });
                }
            }
        }
    }

    /// One attempt: connection errors, timeouts, 429 and 5xx may pass on a retry, other
    /// statuses will not.
    async fn send(&self, body: &str) -> Result<(), AttemptError> {
        let mut request = self
            .client
            .post(self.endpoint.clone())
            .header(CONTENT_TYPE, "application/json")
            .body(body.to_owned());
        if let Some(key) = &self.api_key {
            request = request.bearer_auth(key);
        }
        let response = request.send().await.map_err(|error| AttemptError {
            retryable: error.is_connect() || error.is_timeout() || error.is_request(),
            message: error_chain(&error.without_url()),
        })?;
        let status = response.status();
        if status.is_success() {
            return Ok(());
        }
        Err(AttemptError {
            retryable: status == StatusCode::TOO_MANY_REQUESTS || status.is_server_error(),
            message: format!("HTTP status {status}"),
        })
    }
}

/// The wait before retry `attempt + 1`: 200 ms, doubling, at most 5 s.
fn backoff(attempt: u32) -> Duration {
    FIRST_BACKOFF
        .saturating_mul(2u32.saturating_pow(attempt))
        .min(MAX_BACKOFF)
}

/// An error with its causes, `outer: inner: …` (reqwest's own message names no cause).
fn error_chain(error: &dyn std::error::Error) -> String {
    let mut message = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        message.push_str(": ");
        message.push_str(&cause.to_string());
        source = cause.source();
    }
    message
}

#[cfg(test)]
mod tests;
