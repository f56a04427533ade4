//! `[lineage]`: where OpenLineage events go. A JSON-lines file, an OpenLineage HTTP
//! endpoint (Marquez, or any server of the `POST /api/v1/lineage` contract), both or
//! neither (the default: lineage is still recorded in the catalog, only no events are
//! sent). Delivery never fails a build, a sync or a capture: what could not be sent is
//! logged and counted.

use std::time::Duration;

use anyhow::{bail, Result};
use medlake_lineage::openlineage::{validate_url, Emitter, TransportConfig};
use serde::{Deserialize, Serialize};

/// Lineage settings.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LineageConfig {
    /// Append every OpenLineage event to this JSON-lines file (empty: none).
    #[serde(default)]
    pub file: String,
    /// Send every event to this OpenLineage endpoint (`http://marquez:5000`; empty: none).
    #[serde(default)]
    pub openlineage_url: String,
    /// The environment variable holding the endpoint's API key, sent as a bearer token
    /// (the key itself never goes in the file).
    #[serde(default)]
    pub api_key_env: String,
    /// Extra attempts of a delivery that failed (connection refused, 5xx, 429).
    #[serde(default = "default_retries")]
    pub retries: u32,
    /// Seconds one delivery attempt may take.
    #[serde(default = "default_timeout")]
    pub timeout_seconds: u64,
    /// The namespace of medlake's jobs in the events (one name per installation).
    #[serde(default = "default_namespace")]
    pub namespace: String,
}

fn default_retries() -> u32 {
    3
}

fn default_timeout() -> u64 {
    10
}

fn default_namespace() -> String {
    "medlake".to_string()
}

impl Default for LineageConfig {
    fn default() -> Self {
        LineageConfig {
            file: String::new(),
            openlineage_url: String::new(),
            api_key_env: String::new(),
            retries: default_retries(),
            timeout_seconds: default_timeout(),
            namespace: default_namespace(),
        }
    }
}

impl LineageConfig {
    /// The emitter these settings ask for; a URL that is not http(s), or an API key
    /// variable that is not set, is refused with one line.
    pub fn emitter(&self) -> Result<Emitter> {
        let url = self.openlineage_url.trim();
        if !url.is_empty() {
            if let Err(e) = validate_url(url) {
                bail!("lineage.openlineage_url: {e}");
            }
        }
        let api_key = match self.api_key_env.trim() {
            "" => None,
            var => match std::env::var(var) {
                Ok(key) if !key.is_empty() => Some(key),
                _ => bail!("lineage.api_key_env names {var}, which is not set"),
            },
        };
        Ok(Emitter::new(TransportConfig {
            file: (!self.file.trim().is_empty()).then(|| self.file.trim().into()),
            url: (!url.is_empty()).then(|| url.to_string()),
            api_key,
            retries: self.retries,
            timeout: Duration::from_secs(self.timeout_seconds.max(1)),
        }))
    }
}
