//! Medical imaging: DICOM metadata into the lake, de-identified, exactly once.
//!
//! A DICOM object's header is read up to its pixel data ([`header`]), turned into a row
//! that identifies no patient ([`deid`]), and landed in `ods_dicom_instance` ([`instance`],
//! [`sink`]) from one of three sources: a folder of Part 10 files ([`folder`]), Orthanc's
//! change feed ([`orthanc`]) or a DICOMweb server's QIDO-RS search ([`dicomweb`]). The
//! middle image of a series can be rendered to PNG for a preview ([`preview`]), and
//! [`synth`] writes the simulator's studies as real DICOM files.

pub mod deid;
pub mod dicomweb;
mod error;
pub mod folder;
pub mod header;
pub mod ingest;
pub mod instance;
pub mod orthanc;
mod pacs;
pub mod preview;
pub mod sink;
pub mod synth;
pub mod synth_day;

pub use deid::{pseudonym, DatePolicy, Deidentifier, DicomInstance};
pub use error::ImagingError;
pub use ingest::{ingest, IngestOptions, IngestProgress, IngestReport, Source};
pub use instance::INSTANCE_TABLE;
pub use sink::CrashPoint;
