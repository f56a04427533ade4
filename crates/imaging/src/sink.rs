//! Landing instances in the lake exactly once, whatever the source and wherever a run stops.
//!
//! The protocol, for every source (folder, Orthanc, DICOMweb):
//! 1. At start, the SOP Instance UIDs already in `ods_dicom_instance` are read from the lake.
//!    The lake, not the catalog, is the record of what landed.
//! 2. An instance read from the source is kept for the next batch only if its SOP Instance
//!    UID is neither in that set nor earlier in the batch; a kept one joins the set.
//! 3. Where each instance of the batch can be read again is recorded in the catalog first
//!    (an upsert by UID: a record for an instance whose batch never lands is overwritten
//!    when it is read again, and a preview only asks for instances the lake holds).
//! 4. A batch lands in one Delta commit: all of its rows or none.
//! 5. Only after the commit does the catalog learn the source's new position and the
//!    files read. So the position can lag the lake, never lead it.
//!
//! Why an instance lands exactly once:
//! - At least once: a position moves past an instance only after the batch holding it (or
//!   an earlier batch holding its SOP Instance UID) committed (5), and a run resumes from
//!   the position, so an instance not yet in the lake is read again.
//! - At most once: an instance is appended only when the lake (as of the start of the run,
//!   plus this run's commits) does not hold its UID (1, 2), and a batch is never half
//!   written (4). One ingest per lake runs at a time (the `imaging-ingest` lease), so no
//!   other writer adds UIDs the set does not know.
//!
//! The crash windows, each with a test in `tests/crash.rs`: before a batch's commit (the
//! batch is read again and lands), and between the commit and the catalog (the batch is
//! read again, every instance is already in the lake and is skipped, and the catalog
//! catches up).

use std::collections::HashSet;

use deltalake::arrow::array::{Array, AsArray};
use medlake_catalog::{Catalog, ImagingFile, ImagingLocator};
use medlake_lake::Lake;

use crate::deid::DicomInstance;
use crate::instance::{instance_batch, INSTANCE_TABLE};
use crate::ImagingError;

/// Where a test stops a run, as a crash would.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CrashPoint {
    /// Batch `n` (counted from 1 in this run) is read but not committed.
    BeforeLakeCommit(usize),
    /// Batch `n` is in the lake; the catalog has not heard of it.
    AfterLakeCommit(usize),
}

/// What a run landed and skipped.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SinkFigures {
    /// Instances appended to the lake.
    pub landed: u64,
    /// Instances read whose SOP Instance UID the lake already held.
    pub duplicates: u64,
    /// Bytes of the landed instances' objects.
    pub bytes: u64,
    /// Delta commits made.
    pub commits: u64,
}

/// The writing side of an ingest run (see the module doc for the protocol).
pub struct InstanceSink<'a> {
    lake: &'a Lake,
    catalog: &'a Catalog,
    source: String,
    known: HashSet<String>,
    rows: Vec<DicomInstance>,
    locators: Vec<ImagingLocator>,
    batches: usize,
    crash_at: Option<CrashPoint>,
    figures: SinkFigures,
}

impl<'a> InstanceSink<'a> {
    /// Opens the sink for source `source` (its key in the catalog), reading the UIDs the
    /// lake holds.
    pub async fn open(
        lake: &'a Lake,
        catalog: &'a Catalog,
        source: &str,
        crash_at: Option<CrashPoint>,
    ) -> Result<InstanceSink<'a>, ImagingError> {
        Ok(InstanceSink {
            known: landed_uids(lake).await?,
            lake,
            catalog,
            source: source.to_string(),
            rows: Vec::new(),
            locators: Vec::new(),
            batches: 0,
            crash_at,
            figures: SinkFigures::default(),
        })
    }

    /// Whether the lake (or the batch being gathered) holds this SOP Instance UID.
    pub fn holds(&self, sop_instance_uid: &str) -> bool {
        self.known.contains(sop_instance_uid)
    }

    /// Adds an instance to the next batch, unless its UID already landed; returns whether
    /// it was added. `locator` says where its object can be read again.
    pub fn push(&mut self, instance: DicomInstance, locator: String) -> bool {
        if !self.known.insert(instance.sop_instance_uid.clone()) {
            self.figures.duplicates += 1;
            return false;
        }
        self.locators.push(ImagingLocator {
            sop_instance_uid: instance.sop_instance_uid.clone(),
            series_instance_uid: instance.series_instance_uid.clone(),
            instance_number: instance.instance_number.map(i64::from),
            source: self.source.clone(),
            locator,
        });
        self.rows.push(instance);
        true
    }

    /// Instances gathered for the next commit.
    pub fn pending(&self) -> usize {
        self.rows.len()
    }

    /// Commits the gathered instances (if any) in one Delta commit, then records in the
    /// catalog the files they came from, where they can be read again and, when given,
    /// the source's new position.
    pub async fn commit(
        &mut self,
        files: &[ImagingFile],
        position: Option<&str>,
    ) -> Result<(), ImagingError> {
        self.batches += 1;
        if self.crash_at == Some(CrashPoint::BeforeLakeCommit(self.batches)) {
            return Err(ImagingError::Crash("before the lake commit"));
        }
        self.catalog.record_imaging_locators(&self.locators)?;
        self.locators.clear();
        if !self.rows.is_empty() {
            let batch = instance_batch(&self.rows)?;
            self.lake
                .append(INSTANCE_TABLE, vec![batch], None)
                .await
                .map_err(|e| ImagingError::Lake(e.to_string()))?;
            self.figures.commits += 1;
            self.figures.landed += self.rows.len() as u64;
            self.figures.bytes += self.rows.iter().map(|r| r.bytes.max(0) as u64).sum::<u64>();
        }
        if self.crash_at == Some(CrashPoint::AfterLakeCommit(self.batches)) {
            return Err(ImagingError::Crash("after the lake commit"));
        }
        self.rows.clear();
        self.catalog.record_imaging_files(&self.source, files)?;
        if let Some(position) = position {
            self.catalog.set_imaging_position(&self.source, position)?;
        }
        Ok(())
    }

    /// The figures so far.
    pub fn figures(&self) -> &SinkFigures {
        &self.figures
    }

    /// Counts an instance read again whose UID the lake already holds.
    pub fn skip_landed(&mut self) {
        self.figures.duplicates += 1;
    }
}

/// The SOP Instance UIDs in the lake's instance table (empty before its first commit).
pub async fn landed_uids(lake: &Lake) -> Result<HashSet<String>, ImagingError> {
    let lake_error = |e: &dyn std::fmt::Display| ImagingError::Lake(e.to_string());
    let ctx = deltalake::datafusion::prelude::SessionContext::new();
    if lake
        .load(INSTANCE_TABLE)
        .await
        .map_err(|e| lake_error(&e))?
        .is_none()
    {
        return Ok(HashSet::new());
    }
    lake.register(&ctx, INSTANCE_TABLE)
        .await
        .map_err(|e| lake_error(&e))?;
    let batches = ctx
        .sql(&format!("SELECT sop_instance_uid FROM {INSTANCE_TABLE}"))
        .await
        .map_err(|e| lake_error(&e))?
        .collect()
        .await
        .map_err(|e| lake_error(&e))?;
    let mut uids = HashSet::new();
    for batch in batches {
        let column = batch.column(0);
        let values =
            deltalake::arrow::compute::cast(column, &deltalake::arrow::datatypes::DataType::Utf8)
                .map_err(|e| lake_error(&e))?;
        let strings = values.as_string::<i32>();
        for i in 0..strings.len() {
            if strings.is_valid(i) {
                uids.insert(strings.value(i).to_string());
            }
        }
    }
    Ok(uids)
}
