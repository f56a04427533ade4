//! A folder of DICOM Part 10 files as a source: walked recursively, read incrementally.
//!
//! A file is read when the catalog has not seen it with its current size and modification
//! time (a file rewritten in place is read again; its SOP Instance UID decides whether it
//! lands). A file that is not a readable DICOM instance is quarantined with the reason and
//! the run goes on; it is tried again once its size or modification time changes. A
//! DICOMDIR (the index of a DICOM medium) is recorded as read and not landed.

use std::collections::HashMap;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::time::UNIX_EPOCH;

use chrono::Utc;
use medlake_catalog::{Catalog, ImagingFile};
use tracing::{debug, warn};

use crate::deid::Deidentifier;
use crate::header::{read_header, HeaderError, RawHeader};
use crate::ingest::{IngestProgress, IngestReport};
use crate::sink::InstanceSink;
use crate::ImagingError;

/// A folder source, named in the catalog by its canonical path.
#[derive(Debug, Clone)]
pub struct FolderSource {
    root: PathBuf,
}

impl FolderSource {
    /// The folder at `root`, which must exist.
    pub fn open(root: &Path) -> Result<FolderSource, ImagingError> {
        let root = std::fs::canonicalize(root).map_err(|e| {
            ImagingError::Config(format!("cannot open folder {}: {e}", root.display()))
        })?;
        if !root.is_dir() {
            return Err(ImagingError::Config(format!(
                "{} is not a folder",
                root.display()
            )));
        }
        Ok(FolderSource { root })
    }

    /// The source's key in the catalog.
    pub fn key(&self) -> String {
        self.root.display().to_string()
    }

    /// Every regular file under the root, as the catalog records it, in path order.
    fn walk(&self) -> Result<Vec<ImagingFile>, ImagingError> {
        let mut files = Vec::new();
        for entry in walkdir::WalkDir::new(&self.root)
            .follow_links(false)
            .sort_by_file_name()
        {
            let entry = match entry {
                Ok(e) => e,
                Err(e) => {
                    warn!("skipping an unreadable folder entry: {e}");
                    continue;
                }
            };
            if !entry.file_type().is_file() {
                continue;
            }
            let Ok(meta) = entry.metadata() else { continue };
            let mtime_ns = meta
                .modified()
                .ok()
                .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
                .map_or(0, |d| i64::try_from(d.as_nanos()).unwrap_or(i64::MAX));
            let Ok(relative) = entry.path().strip_prefix(&self.root) else {
                continue;
            };
            files.push(ImagingFile {
                path: relative.to_string_lossy().into_owned(),
                size: i64::try_from(meta.len()).unwrap_or(i64::MAX),
                mtime_ns,
            });
        }
        Ok(files)
    }

    /// Lands the instances of the folder's new and changed files.
    pub async fn ingest(
        &self,
        catalog: &Catalog,
        sink: &mut InstanceSink<'_>,
        deid: &Deidentifier,
        batch: usize,
        progress: &dyn IngestProgress,
        report: &mut IngestReport,
    ) -> Result<(), ImagingError> {
        let key = self.key();
        let seen: HashMap<String, (i64, i64)> = catalog
            .imaging_files(&key)?
            .into_iter()
            .map(|f| (f.path, (f.size, f.mtime_ns)))
            .chain(
                catalog
                    .quarantined_imaging_files(Some(&key))?
                    .into_iter()
                    .map(|q| (q.path, (q.size, q.mtime_ns))),
            )
            .collect();
        let all = self.walk()?;
        let total = all.len();
        let todo: Vec<ImagingFile> = all
            .into_iter()
            .filter(|f| seen.get(&f.path) != Some(&(f.size, f.mtime_ns)))
            .collect();
        report.unchanged += (total - todo.len()) as u64;
        progress.started(todo.len() as u64);
        for chunk in todo.chunks(batch.max(1)) {
            let read = read_in_parallel(&self.root, chunk);
            let mut landed_files = Vec::with_capacity(chunk.len());
            for (file, outcome) in chunk.iter().zip(read) {
                match outcome {
                    Ok(header) if header.is_dicomdir() => {
                        report.dicomdirs += 1;
                        landed_files.push(file.clone());
                    }
                    Ok(header) => {
                        let locator = self.root.join(&file.path).display().to_string();
                        let row = deid.apply(header, file.size, "folder", Utc::now());
                        sink.push(row, locator);
                        landed_files.push(file.clone());
                    }
                    Err(reason) => {
                        debug!("quarantined a file: {reason}");
                        catalog.quarantine_imaging_file(&key, file, &reason.to_string())?;
                        report.quarantined += 1;
                        progress.quarantined(&file.path, &reason.to_string());
                    }
                }
            }
            sink.commit(&landed_files, None).await?;
            report.read += chunk.len() as u64;
            progress.advanced(chunk.len() as u64);
        }
        Ok(())
    }
}

/// Reads the headers of `files` on as many threads as the machine has cores (at most 8),
/// keeping their order.
fn read_in_parallel(root: &Path, files: &[ImagingFile]) -> Vec<Result<RawHeader, HeaderError>> {
    let threads = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .clamp(1, 8);
    let per_thread = files.len().div_ceil(threads).max(1);
    std::thread::scope(|scope| {
        let handles: Vec<_> = files
            .chunks(per_thread)
            .map(|part| {
                let read = scope.spawn(move || {
                    part.iter()
                        .map(|f| read_guarded(&root.join(&f.path)))
                        .collect::<Vec<_>>()
                });
                (part.len(), read)
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|(len, h)| {
                h.join().unwrap_or_else(|_| {
                    (0..len)
                        .map(|_| Err(HeaderError::Malformed("the reader stopped".into())))
                        .collect()
                })
            })
            .collect()
    })
}

/// Reads one file's header; a reader that panics on a malformed file quarantines the
/// file instead of stopping the run.
pub(crate) fn read_guarded(path: &Path) -> Result<RawHeader, HeaderError> {
    std::panic::catch_unwind(|| read_file(path)).unwrap_or_else(|_| {
        Err(HeaderError::Malformed(
            "the DICOM reader failed on this file".into(),
        ))
    })
}

/// Reads one file's header; an I/O failure is a reason like any other.
fn read_file(path: &Path) -> Result<RawHeader, HeaderError> {
    let file = File::open(path)
        .map_err(|e| HeaderError::Malformed(format!("cannot open the file: {}", e.kind())))?;
    read_header(file)
}
