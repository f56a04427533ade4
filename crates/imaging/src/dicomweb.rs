//! A DICOMweb service as a source: QIDO-RS searches studies by study date and lists their
//! instances, WADO-RS retrieves each instance not yet landed as Part 10 bytes, read like a
//! file. The position kept is the last day searched: the next run searches again from it
//! (a study of that day may still arrive), and instances already landed are skipped by UID
//! before they are retrieved.

use chrono::{Local, NaiveDate};
use medlake_catalog::Catalog;
use reqwest::header::CONTENT_TYPE;
use reqwest::StatusCode;
use serde_json::Value;
use tracing::info;
use url::Url;

use crate::deid::Deidentifier;
use crate::ingest::{land_object, IngestOptions, IngestProgress, IngestReport};
use crate::pacs::PacsClient;
use crate::sink::InstanceSink;
use crate::ImagingError;

/// Studies asked for per QIDO page.
const PAGE: usize = 100;
/// Days searched back on a first run without `--study-dates`.
const FIRST_RUN_DAYS: i64 = 7;

/// A DICOMweb service root (e.g. Orthanc's `/dicom-web`).
#[derive(Debug, Clone)]
pub struct DicomWebSource {
    http: PacsClient,
}

impl DicomWebSource {
    /// The service at `base` (a login in the URL wins over `login`).
    pub fn new(
        base: &Url,
        login: Option<(String, String)>,
    ) -> Result<DicomWebSource, ImagingError> {
        Ok(DicomWebSource {
            http: PacsClient::new("DICOMweb", base, login)?,
        })
    }

    /// A QIDO-RS search: a JSON array of DICOM JSON objects (an empty answer is none).
    async fn search(&self, path: &str) -> Result<Vec<Value>, ImagingError> {
        let response = self.http.get(path, Some("application/dicom+json")).await?;
        if response.status() == StatusCode::NO_CONTENT {
            return Ok(Vec::new());
        }
        let text = response
            .text()
            .await
            .map_err(|e| ImagingError::Source(format!("{}: {e}", self.http.name)))?;
        if text.trim().is_empty() {
            return Ok(Vec::new());
        }
        serde_json::from_str(&text).map_err(|e| {
            ImagingError::Source(format!(
                "{}: the search answer is not DICOM JSON: {e}",
                self.http.name
            ))
        })
    }

    /// The Part 10 bytes of one instance, by WADO-RS (`locator` as [`locator_of`] makes it).
    pub async fn retrieve(&self, locator: &str) -> Result<Vec<u8>, ImagingError> {
        let response = self
            .http
            .get(
                locator,
                Some("multipart/related; type=\"application/dicom\""),
            )
            .await?;
        let content_type = response
            .headers()
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string();
        let body = response
            .bytes()
            .await
            .map_err(|e| ImagingError::Source(format!("{}: {e}", self.http.name)))?;
        first_part(&content_type, &body)
            .map(<[u8]>::to_vec)
            .ok_or_else(|| {
                ImagingError::Source(format!(
                    "{}: a retrieve answer without a DICOM part",
                    self.http.name
                ))
            })
    }

    /// Searches the study dates asked for (or from the last day searched to today) and
    /// lands every instance not yet in the lake.
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
        let today = Local::now().date_naive();
        let (from, to) = match options.study_dates {
            Some(range) => range,
            None => {
                let from = match catalog.imaging_position(&key)? {
                    Some(p) => p.parse::<NaiveDate>().map_err(|_| {
                        ImagingError::Source(format!(
                            "the catalog's position for {key} is not a day"
                        ))
                    })?,
                    None => today - chrono::Duration::days(FIRST_RUN_DAYS),
                };
                (from, today)
            }
        };
        info!(source = %key, %from, %to, "searching studies by date");
        progress.started(0);
        let dates = format!("{}-{}", from.format("%Y%m%d"), to.format("%Y%m%d"));
        let mut offset = 0;
        loop {
            let studies = self
                .search(&format!(
                    "studies?StudyDate={dates}&limit={PAGE}&offset={offset}"
                ))
                .await?;
            for study in &studies {
                let Some(uid) = string_of(study, "0020000D") else {
                    continue;
                };
                self.land_study(catalog, sink, deid, &uid, progress, report)
                    .await?;
                if sink.pending() >= options.batch {
                    sink.commit(&[], None).await?;
                }
            }
            if studies.len() < PAGE {
                break;
            }
            offset += studies.len();
        }
        sink.commit(&[], Some(&to.to_string())).await
    }

    async fn land_study(
        &self,
        catalog: &Catalog,
        sink: &mut InstanceSink<'_>,
        deid: &Deidentifier,
        study: &str,
        progress: &dyn IngestProgress,
        report: &mut IngestReport,
    ) -> Result<(), ImagingError> {
        let instances = self.search(&format!("studies/{study}/instances")).await?;
        for instance in instances {
            let (Some(series), Some(sop)) = (
                string_of(&instance, "0020000E"),
                string_of(&instance, "00080018"),
            ) else {
                continue;
            };
            if sink.holds(&sop) {
                sink.skip_landed();
                continue;
            }
            let locator = locator_of(study, &series, &sop);
            let bytes = self.retrieve(&locator).await?;
            let what = locator.clone();
            land_object(
                catalog, sink, deid, &bytes, "dicomweb", what, locator, progress, report,
            )?;
        }
        Ok(())
    }
}

/// The WADO-RS path of an instance, relative to the service root.
pub fn locator_of(study: &str, series: &str, sop: &str) -> String {
    format!("studies/{study}/series/{series}/instances/{sop}")
}

/// The first string value of attribute `tag` (8 hex digits) of a DICOM JSON object.
fn string_of(object: &Value, tag: &str) -> Option<String> {
    object
        .get(tag)?
        .get("Value")?
        .get(0)?
        .as_str()
        .map(str::to_string)
}

/// The body of the first part of a `multipart/related` answer.
pub fn first_part<'a>(content_type: &str, body: &'a [u8]) -> Option<&'a [u8]> {
    let boundary = content_type.split(';').find_map(|p| {
        let (name, value) = p.trim().split_once('=')?;
        name.eq_ignore_ascii_case("boundary")
            .then(|| value.trim_matches('"').to_string())
    })?;
    let delimiter = format!("--{boundary}");
    let start = find(body, delimiter.as_bytes())? + delimiter.len();
    let rest = &body[start..];
    let headers_end = find(rest, b"\r\n\r\n")? + 4;
    let part = &rest[headers_end..];
    let end = find(part, format!("\r\n{delimiter}").as_bytes())?;
    Some(&part[..end])
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_part_of_a_multipart_answer_is_found() {
        let body = b"--abc\r\nContent-Type: application/dicom\r\n\r\nDICMDATA\r\n--abc--\r\n";
        let part = first_part(
            "multipart/related; type=\"application/dicom\"; boundary=abc",
            body,
        );
        assert_eq!(part, Some(&b"DICMDATA"[..]));
        assert_eq!(first_part("multipart/related", body), None);
        assert_eq!(first_part("multipart/related; boundary=zzz", body), None);
    }

    #[test]
    fn dicom_json_values_are_read_by_tag() {
        let v: Value =
            serde_json::from_str(r#"{"0020000D":{"vr":"UI","Value":["1.2.3"]}}"#).unwrap();
        assert_eq!(string_of(&v, "0020000D").as_deref(), Some("1.2.3"));
        assert_eq!(string_of(&v, "00080018"), None);
    }
}
