//! Imaging ingest state: where each PACS feed resumes, which files of a folder were read
//! (so an unchanged file is not read twice), where each instance's object can be fetched
//! again for a preview, and the files that could not be read.
//!
//! None of it is authoritative for what the lake holds: the lake's own instance table is
//! (see `medlake_imaging::sink`). A position or file entry is written only after the
//! instances it covers are committed to the lake, so it can lag the lake, never lead it.

use chrono::Local;

use crate::db::SqlValue;
use crate::{fmt_time, Catalog, Result};

/// A file of a folder source as last read: unchanged size and modification time mean
/// it need not be read again.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImagingFile {
    /// Path relative to the folder source's root.
    pub path: String,
    pub size: i64,
    pub mtime_ns: i64,
}

/// Where an instance's DICOM object can be read again (a file path, an Orthanc
/// instance ID, a WADO-RS URL path).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImagingLocator {
    pub sop_instance_uid: String,
    pub series_instance_uid: String,
    /// The instance's number in its series, if the header has one (a preview shows the middle one).
    pub instance_number: Option<i64>,
    /// The source key (a folder root, `orthanc+http://host:port`, ...).
    pub source: String,
    pub locator: String,
}

/// A file that could not be read as a DICOM instance, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QuarantinedFile {
    pub source: String,
    pub path: String,
    pub size: i64,
    pub mtime_ns: i64,
    pub reason: String,
    pub at: String,
}

impl Catalog {
    /// Where the feed `source` resumes (`None` before its first run).
    pub fn imaging_position(&self, source: &str) -> Result<Option<String>> {
        let row = self.db.query_opt(
            "SELECT position FROM imaging_cursor WHERE source = ?1",
            sql_params![source],
        )?;
        row.map(|r| r.text(0, "imaging_cursor.position"))
            .transpose()
    }

    /// Records where the feed `source` resumes.
    pub fn set_imaging_position(&self, source: &str, position: &str) -> Result<()> {
        self.db.execute(
            "INSERT INTO imaging_cursor (source, position, updated) VALUES (?1, ?2, ?3)
             ON CONFLICT(source) DO UPDATE SET position = ?2, updated = ?3",
            sql_params![source, position, fmt_time(&Local::now().naive_local())],
        )?;
        Ok(())
    }

    /// Every file of folder source `source` read so far.
    pub fn imaging_files(&self, source: &str) -> Result<Vec<ImagingFile>> {
        self.db
            .query(
                "SELECT path, size, mtime_ns FROM imaging_file WHERE source = ?1",
                sql_params![source],
            )?
            .into_iter()
            .map(|r| {
                Ok(ImagingFile {
                    path: r.text(0, "imaging_file.path")?,
                    size: r.int(1, "imaging_file.size")?,
                    mtime_ns: r.int(2, "imaging_file.mtime_ns")?,
                })
            })
            .collect()
    }

    /// Records files of folder source `source` as read (one transaction); a file read
    /// successfully leaves the quarantine.
    pub fn record_imaging_files(&self, source: &str, files: &[ImagingFile]) -> Result<()> {
        if files.is_empty() {
            return Ok(());
        }
        let rows: Vec<Vec<SqlValue>> = files
            .iter()
            .map(|f| sql_params![source, f.path.as_str(), f.size, f.mtime_ns])
            .collect();
        self.db.execute_many(
            "INSERT INTO imaging_file (source, path, size, mtime_ns) VALUES (?1, ?2, ?3, ?4)
             ON CONFLICT(source, path) DO UPDATE SET size = ?3, mtime_ns = ?4",
            rows,
        )?;
        let gone: Vec<Vec<SqlValue>> = files
            .iter()
            .map(|f| sql_params![source, f.path.as_str()])
            .collect();
        self.db.execute_many(
            "DELETE FROM imaging_quarantine WHERE source = ?1 AND path = ?2",
            gone,
        )?;
        Ok(())
    }

    /// Records where instances can be read again (one transaction).
    pub fn record_imaging_locators(&self, locators: &[ImagingLocator]) -> Result<()> {
        if locators.is_empty() {
            return Ok(());
        }
        let rows: Vec<Vec<SqlValue>> = locators
            .iter()
            .map(|l| {
                sql_params![
                    l.sop_instance_uid.as_str(),
                    l.series_instance_uid.as_str(),
                    l.instance_number,
                    l.source.as_str(),
                    l.locator.as_str()
                ]
            })
            .collect();
        self.db.execute_many(
            "INSERT INTO imaging_locator
               (sop_instance_uid, series_instance_uid, instance_number, source, locator)
             VALUES (?1, ?2, ?3, ?4, ?5)
             ON CONFLICT(sop_instance_uid) DO UPDATE SET source = ?4, locator = ?5",
            rows,
        )?;
        Ok(())
    }

    /// Where the instances of series `series` can be read again.
    pub fn imaging_locators_of_series(&self, series: &str) -> Result<Vec<ImagingLocator>> {
        self.db
            .query(
                "SELECT sop_instance_uid, series_instance_uid, instance_number, source, locator
                 FROM imaging_locator WHERE series_instance_uid = ?1
                 ORDER BY instance_number, sop_instance_uid",
                sql_params![series],
            )?
            .into_iter()
            .map(|r| {
                Ok(ImagingLocator {
                    sop_instance_uid: r.text(0, "imaging_locator.sop_instance_uid")?,
                    series_instance_uid: r.text(1, "imaging_locator.series_instance_uid")?,
                    instance_number: r.opt_int(2, "imaging_locator.instance_number")?,
                    source: r.text(3, "imaging_locator.source")?,
                    locator: r.text(4, "imaging_locator.locator")?,
                })
            })
            .collect()
    }

    /// Puts a file in quarantine (or updates why it is there).
    pub fn quarantine_imaging_file(
        &self,
        source: &str,
        file: &ImagingFile,
        reason: &str,
    ) -> Result<()> {
        self.db.execute(
            "INSERT INTO imaging_quarantine (source, path, size, mtime_ns, reason, at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)
             ON CONFLICT(source, path) DO UPDATE SET size = ?3, mtime_ns = ?4, reason = ?5, at = ?6",
            sql_params![
                source,
                file.path.as_str(),
                file.size,
                file.mtime_ns,
                reason,
                fmt_time(&Local::now().naive_local())
            ],
        )?;
        Ok(())
    }

    /// The quarantined files, of one source or of all (`None`), oldest first.
    pub fn quarantined_imaging_files(&self, source: Option<&str>) -> Result<Vec<QuarantinedFile>> {
        let rows = match source {
            Some(s) => self.db.query(
                "SELECT source, path, size, mtime_ns, reason, at FROM imaging_quarantine
                 WHERE source = ?1 ORDER BY at, path",
                sql_params![s],
            )?,
            None => self.db.query(
                "SELECT source, path, size, mtime_ns, reason, at FROM imaging_quarantine
                 ORDER BY at, path",
                vec![],
            )?,
        };
        rows.into_iter()
            .map(|r| {
                Ok(QuarantinedFile {
                    source: r.text(0, "imaging_quarantine.source")?,
                    path: r.text(1, "imaging_quarantine.path")?,
                    size: r.int(2, "imaging_quarantine.size")?,
                    mtime_ns: r.int(3, "imaging_quarantine.mtime_ns")?,
                    reason: r.text(4, "imaging_quarantine.reason")?,
                    at: r.text(5, "imaging_quarantine.at")?,
                })
            })
            .collect()
    }
}
