//! The studies the simulated hospitals' modalities send for one day: one per exam performed
//! that day, read from the business database, with a few orders whose study never arrives
//! and a few studies that match no order, as a real PACS has.
//!
//! Which exams are affected is a pure function of the exam id, so the same business day
//! gives the same files.

use std::collections::HashMap;

use chrono::{Duration, NaiveDate, NaiveDateTime};
use deltalake::arrow::array::{
    Array, AsArray, Date32Array, Int32Array, Int64Array, RecordBatch, StringArray,
    TimestampMicrosecondArray,
};
use medlake_schema::Table;
use medlake_source::BusinessSource;

use crate::synth::StudySpec;
use crate::ImagingError;

/// One exam in this many has no study (the modality never sent it).
pub const MISSING_ONE_IN: i64 = 50;
/// One exam in this many has a second study the PACS holds without an order (an extra
/// series the modality sent under an accession number of its own, the same day).
pub const UNORDERED_ONE_IN: i64 = 80;

/// What a simulated day's studies are.
#[derive(Debug, Clone, Default)]
pub struct DayStudies {
    /// The studies to write.
    pub studies: Vec<StudySpec>,
    /// Exams performed that day.
    pub performed: usize,
    /// Of them, exams whose study is missing.
    pub missing: usize,
    /// Studies without an order.
    pub unordered: usize,
}

fn table(name: &str) -> Result<&'static Table, ImagingError> {
    medlake_schema::table(name)
        .ok_or_else(|| ImagingError::Config(format!("the business schema has no table {name}")))
}

fn source_error(e: impl std::fmt::Display) -> ImagingError {
    ImagingError::Source(format!("business database: {e}"))
}

/// The studies of the exams performed on `day` in `source`.
pub async fn studies_of_day(
    source: &dyn BusinessSource,
    day: NaiveDate,
) -> Result<DayStudies, ImagingError> {
    let exams = performed_exams(source, day).await?;
    let patients = rows_by_id(
        source,
        table("patient")?,
        exams.iter().map(|e| e.patient_id),
    )
    .await?;
    let scanners = rows_by_id(
        source,
        table("scanner")?,
        exams.iter().filter_map(|e| e.scanner_id),
    )
    .await?;
    let hospitals = rows_by_id(
        source,
        table("hospital")?,
        exams.iter().map(|e| e.hospital_id),
    )
    .await?;
    let mut out = DayStudies {
        performed: exams.len(),
        ..DayStudies::default()
    };
    for exam in exams {
        let patient = patients.get(&exam.patient_id);
        let scanner = exam.scanner_id.and_then(|id| scanners.get(&id));
        let field = |row: Option<&Row>, name: &str| {
            row.and_then(|r| r.get(name).cloned()).unwrap_or_default()
        };
        let spec = StudySpec {
            exam_id: exam.id,
            accession: exam.accession.clone(),
            patient_id: exam.patient_id.to_string(),
            patient_name: field(patient, "name"),
            birth_date: field(patient, "birthday").parse().ok(),
            sex: if field(patient, "gender") == medlake_schema::codes::GENDER_FEMALE.to_string() {
                "F".into()
            } else {
                "M".into()
            },
            modality: exam.modality.clone(),
            body_part: exam.body_part.clone(),
            performed_at: exam.performed_at,
            station_name: field(scanner, "station_name"),
            ae_title: field(scanner, "ae_title"),
            manufacturer: field(scanner, "manufacturer"),
            model_name: field(scanner, "model_name"),
            institution: field(hospitals.get(&exam.hospital_id), "name"),
        };
        if exam.id.rem_euclid(MISSING_ONE_IN) == 7 {
            out.missing += 1;
        } else {
            out.studies.push(spec.clone());
        }
        if exam.id.rem_euclid(UNORDERED_ONE_IN) == 11 {
            out.unordered += 1;
            out.studies.push(StudySpec {
                exam_id: -exam.id,
                accession: format!("EXT{}", exam.id),
                performed_at: spec.performed_at + Duration::minutes(20),
                ..spec
            });
        }
    }
    Ok(out)
}

struct Exam {
    id: i64,
    patient_id: i64,
    hospital_id: i64,
    scanner_id: Option<i64>,
    modality: String,
    body_part: String,
    accession: String,
    performed_at: NaiveDateTime,
}

/// Exams whose `performed_time` falls on `day`. Every change to such an exam happens
/// within two days of its order, so its last version was written before `day + 3`.
async fn performed_exams(
    source: &dyn BusinessSource,
    day: NaiveDate,
) -> Result<Vec<Exam>, ImagingError> {
    let exam_table = table("exam_order")?;
    let start = day.and_hms_opt(0, 0, 0).expect("midnight exists");
    let end = start + Duration::days(1);
    let batch = source
        .read_changes(
            exam_table,
            Some(medlake_source::Watermark {
                update_time: start - Duration::microseconds(1),
                id: i64::MAX,
            }),
            Some(start + Duration::days(3)),
            usize::MAX,
        )
        .await
        .map_err(source_error)?;
    let col = |name: &str| {
        batch
            .column_by_name(name)
            .ok_or_else(|| ImagingError::Source(format!("exam_order has no column {name}")))
    };
    let ids = col("id")?
        .as_primitive::<deltalake::arrow::datatypes::Int64Type>()
        .clone();
    let patients = int64(col("patient_id")?)?;
    let hospitals = int64(col("hospital_id")?)?;
    let scanners = int64(col("scanner_id")?)?;
    let modalities = strings(col("modality")?)?;
    let parts = strings(col("body_part")?)?;
    let accessions = strings(col("accession_no")?)?;
    let performed = col("performed_time")?
        .as_any()
        .downcast_ref::<TimestampMicrosecondArray>()
        .ok_or_else(|| ImagingError::Source("exam_order.performed_time is not a time".into()))?
        .clone();
    let mut exams = Vec::new();
    for i in 0..batch.num_rows() {
        if performed.is_null(i) {
            continue;
        }
        let Some(at) = chrono::DateTime::from_timestamp_micros(performed.value(i)) else {
            continue;
        };
        let at = at.naive_utc();
        if at < start || at >= end {
            continue;
        }
        exams.push(Exam {
            id: ids.value(i),
            patient_id: patients.value(i),
            hospital_id: hospitals.value(i),
            scanner_id: (!scanners.is_null(i)).then(|| scanners.value(i)),
            modality: modalities.value(i).to_string(),
            body_part: parts.value(i).to_string(),
            accession: accessions.value(i).to_string(),
            performed_at: at,
        });
    }
    exams.sort_by_key(|e| e.id);
    Ok(exams)
}

fn int64(array: &dyn Array) -> Result<Int64Array, ImagingError> {
    array
        .as_any()
        .downcast_ref::<Int64Array>()
        .cloned()
        .ok_or_else(|| ImagingError::Source("an id column is not a BIGINT".into()))
}

fn strings(array: &dyn Array) -> Result<StringArray, ImagingError> {
    array
        .as_any()
        .downcast_ref::<StringArray>()
        .cloned()
        .ok_or_else(|| ImagingError::Source("a text column is not text".into()))
}

type Row = HashMap<String, String>;

/// The rows of `table` with the given ids, each as column name -> text.
async fn rows_by_id(
    source: &dyn BusinessSource,
    table: &'static Table,
    ids: impl Iterator<Item = i64>,
) -> Result<HashMap<i64, Row>, ImagingError> {
    let mut wanted: Vec<i64> = ids.collect();
    wanted.sort_unstable();
    wanted.dedup();
    let mut rows = HashMap::new();
    // Ids come in runs (recent patients, one hospital's scanners): read each run's span.
    let mut start = 0;
    while start < wanted.len() {
        let mut end = start;
        while end + 1 < wanted.len() && wanted[end + 1] - wanted[end] <= 64 {
            end += 1;
        }
        let batch = source
            .read_ids(table, wanted[start], wanted[end])
            .await
            .map_err(source_error)?;
        collect_rows(&batch, &wanted[start..=end], &mut rows);
        start = end + 1;
    }
    Ok(rows)
}

fn collect_rows(batch: &RecordBatch, wanted: &[i64], rows: &mut HashMap<i64, Row>) {
    let Some(ids) = batch
        .column_by_name("id")
        .and_then(|c| c.as_any().downcast_ref::<Int64Array>())
    else {
        return;
    };
    for i in 0..batch.num_rows() {
        let id = ids.value(i);
        if wanted.binary_search(&id).is_err() {
            continue;
        }
        let mut row = Row::new();
        for (field, column) in batch.schema().fields().iter().zip(batch.columns()) {
            if let Some(text) = text_of(column.as_ref(), i) {
                row.insert(field.name().clone(), text);
            }
        }
        rows.insert(id, row);
    }
}

fn text_of(column: &dyn Array, i: usize) -> Option<String> {
    if column.is_null(i) {
        return None;
    }
    let any = column.as_any();
    if let Some(a) = any.downcast_ref::<StringArray>() {
        return Some(a.value(i).to_string());
    }
    if let Some(a) = any.downcast_ref::<Int64Array>() {
        return Some(a.value(i).to_string());
    }
    if let Some(a) = any.downcast_ref::<Int32Array>() {
        return Some(a.value(i).to_string());
    }
    if let Some(a) = any.downcast_ref::<Date32Array>() {
        return a.value_as_date(i).map(|d| d.to_string());
    }
    None
}
