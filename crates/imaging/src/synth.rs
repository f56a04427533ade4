//! The simulator's studies as real DICOM Part 10 files: one study per performed exam,
//! small deterministic images with the header a modality writes, identity included (the
//! ingest must remove it), laid out as `<study uid>/<series uid>/<sop uid>.dcm` so no path
//! names a patient.

use std::path::{Path, PathBuf};

use chrono::{NaiveDate, NaiveDateTime};
use dicom_core::value::{PrimitiveValue, C};
use dicom_core::{DataElement, Tag, VR};
use dicom_dictionary_std::{tags, uids};
use dicom_object::{FileMetaTableBuilder, InMemDicomObject};
use sha2::{Digest, Sha256};

use crate::ImagingError;

/// Image side, in pixels (a real CT is 512; small keeps a simulated day's files small).
pub const IMAGE_SIDE: u16 = 64;

/// One performed exam whose study the simulated modality sends.
#[derive(Debug, Clone)]
pub struct StudySpec {
    /// The business exam id (seeds the UIDs and pixels).
    pub exam_id: i64,
    /// Accession number; empty for a study the PACS has without an order.
    pub accession: String,
    pub patient_id: String,
    pub patient_name: String,
    pub birth_date: Option<NaiveDate>,
    /// `M` or `F`.
    pub sex: String,
    pub modality: String,
    pub body_part: String,
    pub performed_at: NaiveDateTime,
    pub station_name: String,
    pub ae_title: String,
    pub manufacturer: String,
    pub model_name: String,
    pub institution: String,
}

/// What writing a study made.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WrittenStudy {
    pub study_instance_uid: String,
    pub series: usize,
    pub files: Vec<PathBuf>,
    pub bytes: u64,
}

/// Series and images per series a modality typically sends (small, for the simulator).
pub fn shape_of(modality: &str, exam_id: i64) -> (usize, usize) {
    let vary = (exam_id.rem_euclid(3)) as usize;
    match modality {
        "CT" => (2, 6 + vary),
        "MR" => (3, 4 + vary),
        "DX" | "CR" => (1 + vary % 2, 1),
        "US" => (1, 3 + vary),
        "MG" => (1, 4),
        "NM" => (1, 2),
        _ => (1, 1),
    }
}

/// The SOP Class UID of a modality's images.
pub fn sop_class_of(modality: &str) -> &'static str {
    match modality {
        "CT" => uids::CT_IMAGE_STORAGE,
        "MR" => uids::MR_IMAGE_STORAGE,
        "DX" => uids::DIGITAL_X_RAY_IMAGE_STORAGE_FOR_PRESENTATION,
        "MG" => uids::DIGITAL_MAMMOGRAPHY_X_RAY_IMAGE_STORAGE_FOR_PRESENTATION,
        "US" => uids::ULTRASOUND_IMAGE_STORAGE,
        "NM" => uids::NUCLEAR_MEDICINE_IMAGE_STORAGE,
        _ => uids::COMPUTED_RADIOGRAPHY_IMAGE_STORAGE,
    }
}

/// A deterministic UID under the UUID-derived root `2.25` (PS3.5 B.2) from `parts`.
pub fn uid(parts: &[&str]) -> String {
    let mut hash = Sha256::new();
    for p in parts {
        hash.update(p.as_bytes());
        hash.update([0]);
    }
    let digest = hash.finalize();
    let mut bytes = [0u8; 16];
    bytes.copy_from_slice(&digest[..16]);
    format!("2.25.{}", u128::from_be_bytes(bytes))
}

/// Writes the study of `spec` under `dir`; the same spec writes the same bytes.
pub fn write_study(dir: &Path, spec: &StudySpec) -> Result<WrittenStudy, ImagingError> {
    let exam = spec.exam_id.to_string();
    let study_uid = uid(&["study", &exam, &spec.accession]);
    let (series_count, images) = shape_of(&spec.modality, spec.exam_id);
    let mut written = WrittenStudy {
        study_instance_uid: study_uid.clone(),
        series: series_count,
        ..WrittenStudy::default()
    };
    for s in 1..=series_count {
        let series_uid = uid(&["series", &study_uid, &s.to_string()]);
        let folder = dir.join(&study_uid).join(&series_uid);
        std::fs::create_dir_all(&folder).map_err(|e| write_error(&folder, &e))?;
        for i in 1..=images {
            let sop_uid = uid(&["sop", &series_uid, &i.to_string()]);
            let object = instance(spec, &study_uid, &series_uid, &sop_uid, s, i);
            let file = object
                .with_meta(
                    FileMetaTableBuilder::new()
                        .transfer_syntax(uids::EXPLICIT_VR_LITTLE_ENDIAN)
                        .source_application_entity_title(spec.ae_title.as_str())
                        .implementation_class_uid(uid(&["medlake", "implementation"]))
                        .implementation_version_name("MEDLAKE_SIM"),
                )
                .map_err(|e| ImagingError::Source(format!("building a DICOM file: {e}")))?;
            let path = folder.join(format!("{sop_uid}.dcm"));
            file.write_to_file(&path)
                .map_err(|e| write_error(&path, &e))?;
            written.bytes += std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
            written.files.push(path);
        }
    }
    Ok(written)
}

fn write_error(path: &Path, e: &dyn std::fmt::Display) -> ImagingError {
    ImagingError::Source(format!("writing {}: {e}", path.display()))
}

/// One instance's data set: the header a modality writes, then the pixels.
fn instance(
    spec: &StudySpec,
    study_uid: &str,
    series_uid: &str,
    sop_uid: &str,
    series: usize,
    number: usize,
) -> InMemDicomObject {
    let date = spec.performed_at.format("%Y%m%d").to_string();
    let time = spec.performed_at.format("%H%M%S").to_string();
    let text = |tag: Tag, vr: VR, v: &str| DataElement::new(tag, vr, PrimitiveValue::from(v));
    let us = |tag: Tag, v: u16| DataElement::new(tag, VR::US, PrimitiveValue::from(v));
    let (center, width, intercept) = match spec.modality.as_str() {
        "CT" => ("40", "400", "-1024"),
        _ => ("2048", "4096", "0"),
    };
    let mut elements = vec![
        text(tags::SPECIFIC_CHARACTER_SET, VR::CS, "ISO_IR 192"),
        text(tags::SOP_CLASS_UID, VR::UI, sop_class_of(&spec.modality)),
        text(tags::SOP_INSTANCE_UID, VR::UI, sop_uid),
        text(tags::STUDY_DATE, VR::DA, &date),
        text(tags::SERIES_DATE, VR::DA, &date),
        text(tags::STUDY_TIME, VR::TM, &time),
        text(tags::ACCESSION_NUMBER, VR::SH, &spec.accession),
        text(tags::MODALITY, VR::CS, &spec.modality),
        text(tags::MANUFACTURER, VR::LO, &spec.manufacturer),
        text(tags::INSTITUTION_NAME, VR::LO, &spec.institution),
        text(tags::INSTITUTION_ADDRESS, VR::ST, "1 Hospital Road"),
        text(tags::REFERRING_PHYSICIAN_NAME, VR::PN, "Referring^Doctor"),
        text(tags::STATION_NAME, VR::SH, &spec.station_name),
        text(
            tags::STUDY_DESCRIPTION,
            VR::LO,
            &format!("{} {}", spec.modality, spec.body_part),
        ),
        text(tags::MANUFACTURER_MODEL_NAME, VR::LO, &spec.model_name),
        text(tags::PATIENT_NAME, VR::PN, &spec.patient_name),
        text(tags::PATIENT_ID, VR::LO, &spec.patient_id),
        text(tags::PATIENT_SEX, VR::CS, &spec.sex),
        // Other Patient IDs (0010,1000): retired, yet modalities still write it.
        text(
            Tag(0x0010, 0x1000),
            VR::LO,
            &format!("MRN{}", spec.patient_id),
        ),
        text(
            tags::PATIENT_COMMENTS,
            VR::LT,
            &format!("patient {} referred", spec.patient_name),
        ),
        text(tags::BODY_PART_EXAMINED, VR::CS, &spec.body_part),
        text(tags::STUDY_INSTANCE_UID, VR::UI, study_uid),
        text(tags::SERIES_INSTANCE_UID, VR::UI, series_uid),
        text(tags::STUDY_ID, VR::SH, &spec.exam_id.to_string()),
        text(tags::SERIES_NUMBER, VR::IS, &series.to_string()),
        text(tags::INSTANCE_NUMBER, VR::IS, &number.to_string()),
        us(tags::SAMPLES_PER_PIXEL, 1),
        text(tags::PHOTOMETRIC_INTERPRETATION, VR::CS, "MONOCHROME2"),
        us(tags::ROWS, IMAGE_SIDE),
        us(tags::COLUMNS, IMAGE_SIDE),
        us(tags::BITS_ALLOCATED, 16),
        us(tags::BITS_STORED, 12),
        us(tags::HIGH_BIT, 11),
        us(tags::PIXEL_REPRESENTATION, 0),
        text(tags::WINDOW_CENTER, VR::DS, center),
        text(tags::WINDOW_WIDTH, VR::DS, width),
        text(tags::RESCALE_INTERCEPT, VR::DS, intercept),
        text(tags::RESCALE_SLOPE, VR::DS, "1"),
        DataElement::new(
            tags::PIXEL_DATA,
            VR::OW,
            PrimitiveValue::U16(C::from_vec(phantom(spec.exam_id, series, number))),
        ),
    ];
    if let Some(birth) = spec.birth_date {
        elements.push(text(
            tags::PATIENT_BIRTH_DATE,
            VR::DA,
            &birth.format("%Y%m%d").to_string(),
        ));
    }
    InMemDicomObject::from_element_iter(elements)
}

/// A round phantom whose size follows the slice, with a bright insert and mild noise:
/// stored values 12-bit (CT: 1024 is water after the rescale).
fn phantom(exam: i64, series: usize, number: usize) -> Vec<u16> {
    let side = i64::from(IMAGE_SIDE);
    let centre = side / 2;
    let radius = side * (5 + (number % 4) as i64) / 20;
    let insert = (side / 8, centre + ((exam + series as i64) % 9) - 4);
    let mut state =
        (exam as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ (number as u64) << 32 ^ series as u64;
    let mut pixels = Vec::with_capacity((side * side) as usize);
    for y in 0..side {
        for x in 0..side {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            let noise = (state % 40) as i64;
            let (dx, dy) = (x - centre, y - centre);
            let inside = dx * dx + dy * dy <= radius * radius;
            let (ix, iy) = (x - insert.1, y - centre);
            let bright = ix * ix + iy * iy <= insert.0 * insert.0;
            let value = match (inside, bright) {
                (_, true) => 2200,
                (true, false) => 1040,
                (false, false) => 24,
            } + noise;
            pixels.push(value.clamp(0, 4095) as u16);
        }
    }
    pixels
}
