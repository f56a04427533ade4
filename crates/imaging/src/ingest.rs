//! One ingest run: a source named by the operator, landed through the exactly-once sink
//! under the ingest lease, recorded as a run in the catalog.

use std::path::PathBuf;
use std::time::Duration;

use chrono::NaiveDate;
use medlake_catalog::{Catalog, Outcome, RunKind};
use medlake_lake::Lake;
use rand::TryRngCore;
use url::Url;

use crate::deid::{DatePolicy, Deidentifier};
use crate::dicomweb::DicomWebSource;
use crate::folder::FolderSource;
use crate::orthanc::OrthancSource;
use crate::sink::{CrashPoint, InstanceSink, SinkFigures};
use crate::ImagingError;

/// The lease one ingest at a time holds (see `sink`'s protocol).
pub const INGEST_LEASE: &str = "imaging-ingest";

/// Where instances come from, as the operator names it.
#[derive(Debug, Clone)]
pub enum Source {
    /// A folder of Part 10 files.
    Folder(PathBuf),
    /// Orthanc's REST API at this base URL (`orthanc+http://host:8042`).
    Orthanc(Url),
    /// A DICOMweb service root (`dicomweb+http://host/dicom-web`).
    DicomWeb(Url),
}

impl Source {
    /// Parses `--from`: `orthanc+http(s)://...`, `dicomweb+http(s)://...`, or a folder path.
    pub fn parse(from: &str) -> Result<Source, ImagingError> {
        let url = |rest: &str| -> Result<Url, ImagingError> {
            let url = Url::parse(rest)
                .map_err(|e| ImagingError::Config(format!("{}: not a URL ({e})", redact(from))))?;
            if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
                return Err(ImagingError::Config(format!(
                    "{}: a PACS address is http(s)://host[:port][/path]",
                    redact(from)
                )));
            }
            Ok(url)
        };
        if let Some(rest) = from.strip_prefix("orthanc+") {
            return Ok(Source::Orthanc(url(rest)?));
        }
        if let Some(rest) = from.strip_prefix("dicomweb+") {
            return Ok(Source::DicomWeb(url(rest)?));
        }
        if from.contains("://") {
            return Err(ImagingError::Config(format!(
                "{}: unknown source; give a folder, orthanc+http://HOST:PORT or dicomweb+http://HOST/PATH",
                redact(from)
            )));
        }
        Ok(Source::Folder(PathBuf::from(from)))
    }
}

/// A source address with any password replaced, for messages and the catalog.
pub fn redact(address: &str) -> String {
    let (prefix, rest) = match address.split_once('+') {
        Some((p, r)) if !p.contains('/') => (format!("{p}+"), r),
        _ => (String::new(), address),
    };
    match Url::parse(rest) {
        Ok(mut url) if url.password().is_some() => {
            let _ = url.set_password(Some("***"));
            format!("{prefix}{url}")
        }
        _ => address.to_string(),
    }
}

/// How a run reads and writes.
#[derive(Debug, Clone)]
pub struct IngestOptions {
    /// Instances per lake commit.
    pub batch: usize,
    /// Whether study dates reach the lake.
    pub dates: DatePolicy,
    /// The PACS login when the address carries none: user and password.
    pub login: Option<(String, String)>,
    /// DICOMweb: the study dates searched (inclusive).
    pub study_dates: Option<(NaiveDate, NaiveDate)>,
    /// Orthanc: keep following the change feed, polling at this interval, until stopped.
    pub follow: Option<Duration>,
    /// Stop at this point as a crash would (tests).
    pub crash_at: Option<CrashPoint>,
}

impl Default for IngestOptions {
    fn default() -> Self {
        IngestOptions {
            batch: 2_000,
            dates: DatePolicy::Keep,
            login: None,
            study_dates: None,
            follow: None,
            crash_at: None,
        }
    }
}

/// Progress of a run, shown by the command line.
pub trait IngestProgress: Sync {
    /// `total` objects are to be read (0 when unknown, e.g. a change feed).
    fn started(&self, total: u64);
    /// `n` more objects were read.
    fn advanced(&self, n: u64);
    /// An object was quarantined (`what`: its path or PACS identifier).
    fn quarantined(&self, what: &str, reason: &str);
}

/// Progress that shows nothing.
pub struct NoProgress;

impl IngestProgress for NoProgress {
    fn started(&self, _: u64) {}
    fn advanced(&self, _: u64) {}
    fn quarantined(&self, _: &str, _: &str) {}
}

/// What a run did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IngestReport {
    /// The source's key in the catalog (no password).
    pub source: String,
    /// Objects read from the source.
    pub read: u64,
    /// Files skipped because they were read before, unchanged.
    pub unchanged: u64,
    /// DICOMDIR index files seen (not landed).
    pub dicomdirs: u64,
    /// Objects that could not be read as instances.
    pub quarantined: u64,
    /// What the sink landed and skipped.
    pub landed: SinkFigures,
}

/// How long the ingest lease lasts unless renewed (it is renewed every minute).
const LEASE_TTL_MINUTES: i64 = 5;

/// Lands the instances of `source` in `lake`'s `ods_dicom_instance`, exactly once.
pub async fn ingest(
    lake: &Lake,
    catalog: &Catalog,
    source: &Source,
    options: &IngestOptions,
    progress: &dyn IngestProgress,
) -> Result<IngestReport, ImagingError> {
    let key = source_key(source)?;
    let deid = Deidentifier::new(&pseudonym_key(catalog)?, options.dates)?;
    let holder = lease_holder();
    take_lease(catalog, &holder)?;
    let run = catalog.start_run(RunKind::ImagingIngest, &key, None);
    let outcome = match &run {
        Ok(_) => {
            let job = run_source(lake, catalog, source, &key, &deid, options, progress);
            let renew = async {
                loop {
                    tokio::time::sleep(Duration::from_secs(60)).await;
                    let _ = catalog.acquire_lease(
                        INGEST_LEASE,
                        &holder,
                        chrono::Duration::minutes(LEASE_TTL_MINUTES),
                    );
                }
            };
            tokio::select! {
                outcome = job => outcome,
                () = renew => unreachable!("the renewal loop never ends"),
            }
        }
        Err(e) => Err(ImagingError::Source(format!("recording the run: {e}"))),
    };
    let released = catalog.release_lease(INGEST_LEASE, &holder);
    if let Ok(run) = run {
        match &outcome {
            Ok(report) => catalog.finish_run(
                run,
                Outcome::Succeeded,
                report.landed.landed,
                report.landed.bytes,
                None,
            )?,
            Err(e) => catalog.finish_run(run, Outcome::Failed, 0, 0, Some(&e.to_string()))?,
        }
    }
    released?;
    outcome
}

/// This process as a lease holder: `host:pid:start`.
fn lease_holder() -> String {
    format!(
        "{}:{}:{}",
        this_host(),
        std::process::id(),
        chrono::Utc::now().timestamp_micros()
    )
}

fn this_host() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .unwrap_or_else(|_| "localhost".into())
}

/// Takes the ingest lease. A lease held by a process of this host that no longer runs (a
/// killed ingest) is broken rather than waited out; one held by a live process, or by
/// another host, is refused until it expires.
fn take_lease(catalog: &Catalog, holder: &str) -> Result<(), ImagingError> {
    let ttl = chrono::Duration::minutes(LEASE_TTL_MINUTES);
    if catalog.acquire_lease(INGEST_LEASE, holder, ttl)?.is_some() {
        return Ok(());
    }
    let Some(current) = catalog.lease(INGEST_LEASE)? else {
        return Err(ImagingError::Busy("another process".into()));
    };
    if holder_is_gone(&current.holder) {
        catalog.release_lease(INGEST_LEASE, &current.holder)?;
        if catalog.acquire_lease(INGEST_LEASE, holder, ttl)?.is_some() {
            return Ok(());
        }
    }
    Err(ImagingError::Busy(current.holder))
}

/// Whether `holder` names a process of this host that has ended.
fn holder_is_gone(holder: &str) -> bool {
    let mut parts = holder.split(':');
    let (Some(host), Some(pid)) = (parts.next(), parts.next()) else {
        return false;
    };
    host == this_host()
        && pid.parse::<u32>().is_ok_and(|pid| {
            pid != std::process::id() && !std::path::Path::new(&format!("/proc/{pid}")).exists()
        })
}

async fn run_source(
    lake: &Lake,
    catalog: &Catalog,
    source: &Source,
    key: &str,
    deid: &Deidentifier,
    options: &IngestOptions,
    progress: &dyn IngestProgress,
) -> Result<IngestReport, ImagingError> {
    let mut sink = InstanceSink::open(lake, catalog, key, options.crash_at).await?;
    let mut report = IngestReport {
        source: key.to_string(),
        ..IngestReport::default()
    };
    match source {
        Source::Folder(path) => {
            let folder = FolderSource::open(path)?;
            folder
                .ingest(
                    catalog,
                    &mut sink,
                    deid,
                    options.batch,
                    progress,
                    &mut report,
                )
                .await?;
        }
        Source::Orthanc(url) => {
            let orthanc = OrthancSource::new(url, options.login.clone())?;
            orthanc
                .ingest(catalog, &mut sink, deid, options, progress, &mut report)
                .await?;
        }
        Source::DicomWeb(url) => {
            let web = DicomWebSource::new(url, options.login.clone())?;
            web.ingest(catalog, &mut sink, deid, options, progress, &mut report)
                .await?;
        }
    }
    report.landed = sink.figures().clone();
    Ok(report)
}

/// The catalog key of a source: a folder's canonical path, a PACS URL without its login.
pub fn source_key(source: &Source) -> Result<String, ImagingError> {
    Ok(match source {
        Source::Folder(path) => FolderSource::open(path)?.key(),
        Source::Orthanc(url) => format!("orthanc+{}", without_login(url)),
        Source::DicomWeb(url) => format!("dicomweb+{}", without_login(url)),
    })
}

/// `url` without user and password.
pub(crate) fn without_login(url: &Url) -> String {
    let mut url = url.clone();
    let _ = url.set_username("");
    let _ = url.set_password(None);
    url.as_str().trim_end_matches('/').to_string()
}

/// The deployment's pseudonym key, made (32 random bytes) the first time it is needed.
pub fn pseudonym_key(catalog: &Catalog) -> Result<Vec<u8>, ImagingError> {
    let mut fresh = [0u8; 32];
    rand::rngs::OsRng.try_fill_bytes(&mut fresh).map_err(|e| {
        ImagingError::Config(format!("no random source for the pseudonym key: {e}"))
    })?;
    Ok(catalog.pseudonym_key(&fresh)?)
}

/// A PACS object fetched by a source: read its header and land it, or quarantine it under
/// `what` (its identifier at the PACS) with the reason. Counts it as read.
#[allow(clippy::too_many_arguments)]
pub(crate) fn land_object(
    catalog: &Catalog,
    sink: &mut InstanceSink<'_>,
    deid: &Deidentifier,
    bytes: &[u8],
    kind: &'static str,
    what: String,
    locator: String,
    progress: &dyn IngestProgress,
    report: &mut IngestReport,
) -> Result<(), ImagingError> {
    report.read += 1;
    progress.advanced(1);
    match crate::header::read_header(bytes) {
        Ok(header) if header.is_dicomdir() => report.dicomdirs += 1,
        Ok(header) => {
            let row = deid.apply(header, bytes.len() as i64, kind, chrono::Utc::now());
            sink.push(row, locator);
        }
        Err(reason) => {
            let file = medlake_catalog::ImagingFile {
                path: what.clone(),
                size: bytes.len() as i64,
                mtime_ns: 0,
            };
            catalog.quarantine_imaging_file(&report.source, &file, &reason.to_string())?;
            report.quarantined += 1;
            progress.quarantined(&what, &reason.to_string());
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sources_parse_and_bad_ones_are_refused_without_their_password() {
        assert!(matches!(
            Source::parse("/data/dicom").unwrap(),
            Source::Folder(_)
        ));
        assert!(matches!(
            Source::parse("orthanc+http://pacs:8042").unwrap(),
            Source::Orthanc(_)
        ));
        assert!(matches!(
            Source::parse("dicomweb+https://pacs/dicom-web").unwrap(),
            Source::DicomWeb(_)
        ));
        let e = Source::parse("ftp://u:secret@pacs/x")
            .unwrap_err()
            .to_string();
        assert!(e.contains("unknown source") && !e.contains("secret"), "{e}");
        let e = Source::parse("orthanc+ftp://u:secret@pacs")
            .unwrap_err()
            .to_string();
        assert!(!e.contains("secret"), "{e}");
        assert_eq!(
            redact("orthanc+http://u:secret@pacs:8042/"),
            "orthanc+http://u:***@pacs:8042/"
        );
    }

    #[test]
    fn a_source_key_never_holds_the_login() {
        let source = Source::parse("orthanc+http://medlake:secret@pacs:8042/").unwrap();
        assert_eq!(source_key(&source).unwrap(), "orthanc+http://pacs:8042");
    }
}
