//! `[imaging]`: how DICOM metadata is ingested and previews are fetched (docs/imaging.md).

use anyhow::{bail, Result};
use medlake_imaging::DatePolicy;
use serde::{Deserialize, Serialize};

/// Imaging settings.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ImagingConfig {
    /// Study dates in the lake: `keep` (turnaround needs them) or `remove`.
    #[serde(default = "default_dates")]
    pub dates: String,
    /// Instances per lake commit.
    #[serde(default = "default_batch")]
    pub batch: usize,
    /// The PACS user (Orthanc, DICOMweb) when the address carries none.
    #[serde(default)]
    pub pacs_user: String,
    /// The environment variable holding the PACS password (the password never goes in
    /// the file).
    #[serde(default = "default_password_env")]
    pub pacs_password_env: String,
}

fn default_dates() -> String {
    "keep".into()
}

fn default_batch() -> usize {
    2_000
}

fn default_password_env() -> String {
    "MEDLAKE_PACS_PASSWORD".into()
}

impl Default for ImagingConfig {
    fn default() -> Self {
        ImagingConfig {
            dates: default_dates(),
            batch: default_batch(),
            pacs_user: String::new(),
            pacs_password_env: default_password_env(),
        }
    }
}

impl ImagingConfig {
    /// The date policy `dates` names.
    pub fn date_policy(&self) -> Result<DatePolicy> {
        match self.dates.as_str() {
            "keep" => Ok(DatePolicy::Keep),
            "remove" => Ok(DatePolicy::Remove),
            other => bail!("imaging.dates is `keep` or `remove`, not `{other}`"),
        }
    }

    /// The PACS login: `pacs_user` and the password from `pacs_password_env` (none
    /// without a user; a user without a password is refused).
    pub fn login(&self) -> Result<Option<(String, String)>> {
        if self.pacs_user.is_empty() {
            return Ok(None);
        }
        match std::env::var(&self.pacs_password_env) {
            Ok(password) if !password.is_empty() => Ok(Some((self.pacs_user.clone(), password))),
            _ => bail!(
                "imaging.pacs_user is set but ${} holds no password",
                self.pacs_password_env
            ),
        }
    }
}
