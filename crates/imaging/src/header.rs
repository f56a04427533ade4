//! Reading a DICOM Part 10 object's header, stopping before the pixel data.
//!
//! Only the attributes the lake keeps are taken out of the parsed data set, plus the two
//! identifiers that become pseudonyms ([`RawHeader::patient_id`], [`RawHeader::accession`]).
//! Everything else the header carries (names, birth dates, addresses, comments) is never
//! copied out of the parser's object, which is dropped at the end of [`read_header`].

use std::io::{BufReader, Read};

use dicom_core::Tag;
use dicom_dictionary_std::tags;
use dicom_object::file::ReadPreamble;
use dicom_object::{DefaultDicomObject, OpenFileOptions};

/// SOP Class UID of a DICOMDIR (Media Storage Directory Storage): an index of a folder's
/// files, not an image; walkers skip it rather than quarantine it.
pub const DICOMDIR_SOP_CLASS: &str = "1.2.840.10008.1.3.10";

/// The header attributes of one instance as read, before de-identification.
///
/// It holds two identifying values (patient ID and accession number) and lives only
/// between [`read_header`] and [`crate::deid::Deidentifier::apply`].
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RawHeader {
    pub sop_class_uid: String,
    pub sop_instance_uid: String,
    pub study_instance_uid: String,
    pub series_instance_uid: String,
    pub patient_id: String,
    pub accession: String,
    pub modality: String,
    pub body_part: String,
    /// `YYYYMMDD` as in the header.
    pub study_date: String,
    /// `HHMMSS.FFFFFF` as in the header (any prefix of it).
    pub study_time: String,
    pub series_number: Option<i32>,
    pub instance_number: Option<i32>,
    pub station_name: String,
    /// The sending application's AE title, from the file meta group.
    pub source_ae_title: String,
    pub manufacturer: String,
    pub model_name: String,
    pub institution: String,
    pub rows: Option<i32>,
    pub columns: Option<i32>,
    pub frames: Option<i32>,
    pub transfer_syntax: String,
}

impl RawHeader {
    /// Whether this object is a DICOMDIR index rather than an instance.
    pub fn is_dicomdir(&self) -> bool {
        self.sop_class_uid == DICOMDIR_SOP_CLASS
    }
}

/// Why a file could not be read as a DICOM instance. The text never carries the file's
/// path or any value of the header (it goes to the quarantine list and to logs).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HeaderError {
    #[error("not a DICOM Part 10 file (no DICM marker after the preamble)")]
    NotDicom,
    #[error("unreadable DICOM header: {0}")]
    Malformed(String),
    #[error("the header has no SOP Instance UID")]
    NoSopInstanceUid,
    #[error("the header has no Study Instance UID")]
    NoStudyInstanceUid,
}

/// Reads the header of a Part 10 object from `source` (preamble optional), stopping before
/// the pixel data, and takes out the attributes the lake keeps.
pub fn read_header(source: impl Read) -> Result<RawHeader, HeaderError> {
    let object = OpenFileOptions::new()
        .read_preamble(ReadPreamble::Auto)
        .read_until(tags::PIXEL_DATA)
        .from_reader(BufReader::with_capacity(16 * 1024, source))
        .map_err(|e| classify(&e))?;
    header_of(&object)
}

/// Takes the kept attributes out of a parsed object (also used on objects read whole).
pub fn header_of(object: &DefaultDicomObject) -> Result<RawHeader, HeaderError> {
    let meta = object.meta();
    let text = |tag: Tag| -> String {
        match object.element_opt(tag) {
            Ok(Some(e)) => e
                .to_str()
                .map(|s| {
                    s.trim_matches(|c: char| c.is_whitespace() || c == '\0')
                        .to_string()
                })
                .unwrap_or_default(),
            _ => String::new(),
        }
    };
    let int = |tag: Tag| -> Option<i32> {
        match object.element_opt(tag) {
            Ok(Some(e)) => e.to_int::<i32>().ok(),
            _ => None,
        }
    };
    let mut sop_instance_uid = text(tags::SOP_INSTANCE_UID);
    if sop_instance_uid.is_empty() {
        sop_instance_uid = meta.media_storage_sop_instance_uid().to_string();
    }
    let mut sop_class_uid = text(tags::SOP_CLASS_UID);
    if sop_class_uid.is_empty() {
        sop_class_uid = meta.media_storage_sop_class_uid().to_string();
    }
    let header = RawHeader {
        sop_class_uid,
        sop_instance_uid,
        study_instance_uid: text(tags::STUDY_INSTANCE_UID),
        series_instance_uid: text(tags::SERIES_INSTANCE_UID),
        patient_id: text(tags::PATIENT_ID),
        accession: text(tags::ACCESSION_NUMBER),
        modality: text(tags::MODALITY),
        body_part: text(tags::BODY_PART_EXAMINED),
        study_date: text(tags::STUDY_DATE),
        study_time: text(tags::STUDY_TIME),
        series_number: int(tags::SERIES_NUMBER),
        instance_number: int(tags::INSTANCE_NUMBER),
        station_name: text(tags::STATION_NAME),
        source_ae_title: meta
            .source_application_entity_title
            .as_deref()
            .unwrap_or_default()
            .trim_matches(|c: char| c.is_whitespace() || c == '\0')
            .to_string(),
        manufacturer: text(tags::MANUFACTURER),
        model_name: text(tags::MANUFACTURER_MODEL_NAME),
        institution: text(tags::INSTITUTION_NAME),
        rows: int(tags::ROWS),
        columns: int(tags::COLUMNS),
        frames: int(tags::NUMBER_OF_FRAMES).or_else(|| int(tags::ROWS).map(|_| 1)),
        transfer_syntax: meta.transfer_syntax().to_string(),
    };
    if header.is_dicomdir() {
        return Ok(header);
    }
    if header.sop_instance_uid.is_empty() {
        return Err(HeaderError::NoSopInstanceUid);
    }
    if header.study_instance_uid.is_empty() {
        return Err(HeaderError::NoStudyInstanceUid);
    }
    Ok(header)
}

/// The reader's error as a quarantine reason: the first line of its own message and of
/// its causes, which name what failed but neither the path nor a value.
fn classify(error: &dicom_object::ReadError) -> HeaderError {
    let mut parts = vec![error.to_string()];
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        parts.push(cause.to_string());
        source = cause.source();
    }
    let all = parts.join(": ");
    if all.contains("DICM") || all.contains("magic code") {
        HeaderError::NotDicom
    } else {
        HeaderError::Malformed(all.lines().next().unwrap_or_default().to_string())
    }
}
