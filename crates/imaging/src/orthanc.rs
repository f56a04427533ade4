//! Orthanc as a source: its change feed (`/changes`), read from the position the catalog
//! keeps, one study at a time once Orthanc reports it stable (`StableStudy`: no new
//! instance for the server's `StableAge`). A study that gains instances later becomes
//! stable again and is read again; instances already landed are skipped by UID.

use medlake_catalog::Catalog;
use serde::Deserialize;
use tracing::{debug, info};
use url::Url;

use crate::deid::Deidentifier;
use crate::ingest::{land_object, IngestOptions, IngestProgress, IngestReport};
use crate::pacs::PacsClient;
use crate::sink::InstanceSink;
use crate::ImagingError;

/// Changes asked for per request.
const PAGE: usize = 200;

/// An Orthanc server's REST API.
#[derive(Debug, Clone)]
pub struct OrthancSource {
    http: PacsClient,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct ChangePage {
    changes: Vec<Change>,
    done: bool,
    last: i64,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Change {
    change_type: String,
    #[serde(rename = "ID")]
    id: String,
    seq: i64,
}

#[derive(Debug, Deserialize)]
struct InstanceEntry {
    #[serde(rename = "ID")]
    id: String,
    #[serde(rename = "MainDicomTags", default)]
    tags: InstanceTags,
}

#[derive(Debug, Default, Deserialize)]
struct InstanceTags {
    #[serde(rename = "SOPInstanceUID", default)]
    sop_instance_uid: String,
}

impl OrthancSource {
    /// The server at `base` (a login in the URL wins over `login`).
    pub fn new(base: &Url, login: Option<(String, String)>) -> Result<OrthancSource, ImagingError> {
        Ok(OrthancSource {
            http: PacsClient::new("Orthanc", base, login)?,
        })
    }

    async fn json<T: serde::de::DeserializeOwned>(&self, path: &str) -> Result<T, ImagingError> {
        self.http.get(path, None).await?.json().await.map_err(|e| {
            ImagingError::Source(format!(
                "{}: unexpected answer to {}: {e}",
                self.http.name, path
            ))
        })
    }

    /// The Part 10 bytes of instance `id`.
    pub async fn instance_file(&self, id: &str) -> Result<Vec<u8>, ImagingError> {
        let response = self.http.get(&format!("instances/{id}/file"), None).await?;
        let bytes = response.bytes().await.map_err(|e| {
            ImagingError::Source(format!("{}: reading instance {id}: {e}", self.http.name))
        })?;
        Ok(bytes.to_vec())
    }

    /// Follows the change feed from the catalog's position, landing each stable study.
    pub async fn ingest(
        &self,
        catalog: &Catalog,
        sink: &mut InstanceSink<'_>,
        deid: &Deidentifier,
        options: &IngestOptions,
        progress: &dyn IngestProgress,
        report: &mut IngestReport,
    ) -> Result<(), ImagingError> {
        let key = report.source.clone();
        let mut since: i64 = match catalog.imaging_position(&key)? {
            Some(p) => p.parse().map_err(|_| {
                ImagingError::Source(format!(
                    "the catalog's position for {key} is not a change number"
                ))
            })?,
            None => 0,
        };
        info!(source = %key, since, "following Orthanc's change feed");
        progress.started(0);
        loop {
            let page: ChangePage = self
                .json(&format!("changes?since={since}&limit={PAGE}"))
                .await?;
            for change in &page.changes {
                if change.change_type == "StableStudy" {
                    self.land_study(catalog, sink, deid, &change.id, progress, report)
                        .await?;
                }
                since = since.max(change.seq);
                if sink.pending() >= options.batch {
                    sink.commit(&[], Some(&since.to_string())).await?;
                }
            }
            since = since.max(page.last);
            sink.commit(&[], Some(&since.to_string())).await?;
            if page.done {
                match options.follow {
                    Some(interval) => tokio::time::sleep(interval).await,
                    None => return Ok(()),
                }
            }
        }
    }

    /// Reads every instance of stable study `study` (an Orthanc ID) not yet in the lake.
    async fn land_study(
        &self,
        catalog: &Catalog,
        sink: &mut InstanceSink<'_>,
        deid: &Deidentifier,
        study: &str,
        progress: &dyn IngestProgress,
        report: &mut IngestReport,
    ) -> Result<(), ImagingError> {
        let instances: Vec<InstanceEntry> =
            match self.json(&format!("studies/{study}/instances")).await {
                Ok(list) => list,
                // Deleted since it became stable: nothing to read.
                Err(ImagingError::Source(m)) if m.contains("404") => return Ok(()),
                Err(e) => return Err(e),
            };
        debug!(instances = instances.len(), "reading a stable study");
        for entry in instances {
            let locator = format!("orthanc:{}", entry.id);
            if !entry.tags.sop_instance_uid.is_empty() && sink.holds(&entry.tags.sop_instance_uid) {
                sink.skip_landed();
                continue;
            }
            let bytes = self.instance_file(&entry.id).await?;
            let what = format!("instances/{}", entry.id);
            land_object(
                catalog, sink, deid, &bytes, "orthanc", what, locator, progress, report,
            )?;
        }
        Ok(())
    }
}
