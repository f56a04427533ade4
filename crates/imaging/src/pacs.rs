//! The HTTP side both PACS sources share: one client with a timeout, a login (from the
//! address or the configuration), and answers that fail with a clear reason naming the
//! server but never its password.

use std::time::Duration;

use reqwest::header::ACCEPT;
use reqwest::{Client, StatusCode};
use url::Url;

use crate::ingest::without_login;
use crate::ImagingError;

/// A PACS's HTTP API at a base URL.
#[derive(Debug, Clone)]
pub(crate) struct PacsClient {
    base: Url,
    /// How messages name the server (`Orthanc at http://host:8042`).
    pub(crate) name: String,
    client: Client,
    login: Option<(String, String)>,
}

impl PacsClient {
    /// A client of the `kind` server at `base`; a login in the URL wins over `login`.
    pub(crate) fn new(
        kind: &str,
        base: &Url,
        login: Option<(String, String)>,
    ) -> Result<PacsClient, ImagingError> {
        let login = if base.username().is_empty() {
            login
        } else {
            Some((
                base.username().to_string(),
                base.password().unwrap_or_default().to_string(),
            ))
        };
        let client = Client::builder()
            .timeout(Duration::from_secs(120))
            .build()
            .map_err(|e| ImagingError::Source(format!("HTTP client: {e}")))?;
        let mut base = base.clone();
        if !base.path().ends_with('/') {
            base.set_path(&format!("{}/", base.path()));
        }
        Ok(PacsClient {
            name: format!("{kind} at {}", without_login(&base)),
            base,
            client,
            login,
        })
    }

    /// GET `path` (relative to the base), refusing a non-success answer with a reason.
    pub(crate) async fn get(
        &self,
        path: &str,
        accept: Option<&str>,
    ) -> Result<reqwest::Response, ImagingError> {
        let url = self
            .base
            .join(path)
            .map_err(|e| ImagingError::Config(format!("{}: {e}", self.name)))?;
        let mut request = self.client.get(url);
        if let Some(accept) = accept {
            request = request.header(ACCEPT, accept);
        }
        if let Some((user, password)) = &self.login {
            request = request.basic_auth(user, Some(password));
        }
        let response = request.send().await.map_err(|e| {
            ImagingError::Source(format!(
                "{} is not answering: {}",
                self.name,
                root_cause(&e)
            ))
        })?;
        match response.status() {
            s if s.is_success() => Ok(response),
            StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => Err(ImagingError::Source(format!(
                "{} refused the login ({}): give the PACS user and password",
                self.name,
                response.status()
            ))),
            s => Err(ImagingError::Source(format!(
                "{} answered {s} to {}",
                self.name,
                path.split('?').next().unwrap_or(path)
            ))),
        }
    }
}

/// The innermost cause of an HTTP error (e.g. "Connection refused").
fn root_cause(e: &(dyn std::error::Error + 'static)) -> String {
    let mut cause: &dyn std::error::Error = e;
    while let Some(next) = cause.source() {
        cause = next;
    }
    cause.to_string()
}
