//! `ods_dicom_instance`: one row per DICOM instance, as Arrow batches for the lake.

use std::sync::Arc;

use chrono::NaiveDate;
use deltalake::arrow::array::{
    ArrayRef, Date32Array, Int32Array, Int64Array, RecordBatch, StringArray,
    TimestampMicrosecondArray,
};
use deltalake::arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use medlake_lake::PARTITION_COLUMN;

use crate::deid::DicomInstance;
use crate::ImagingError;

/// The lake table of instance metadata.
pub const INSTANCE_TABLE: &str = "ods_dicom_instance";

/// The table's columns, in order, with the `dt` partition last.
pub fn instance_schema() -> SchemaRef {
    let text = |name: &str| Field::new(name, DataType::Utf8, true);
    let int = |name: &str| Field::new(name, DataType::Int32, true);
    Arc::new(Schema::new(vec![
        Field::new("study_instance_uid", DataType::Utf8, false),
        Field::new("series_instance_uid", DataType::Utf8, false),
        Field::new("sop_instance_uid", DataType::Utf8, false),
        text("sop_class_uid"),
        text("patient_pseudonym"),
        text("accession_pseudonym"),
        text("modality"),
        text("body_part"),
        Field::new("study_date", DataType::Date32, true),
        // HH:MM:SS: Delta Lake has no time-of-day type.
        text("study_time"),
        int("series_number"),
        int("instance_number"),
        text("station_name"),
        text("source_ae_title"),
        text("manufacturer"),
        text("model_name"),
        text("institution"),
        int("rows"),
        int("columns"),
        int("frames"),
        text("transfer_syntax"),
        Field::new("bytes", DataType::Int64, false),
        Field::new("source", DataType::Utf8, false),
        Field::new(
            "ingested_at",
            DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
            false,
        ),
        Field::new(PARTITION_COLUMN, DataType::Utf8, false),
    ]))
}

/// The rows as one record batch (each row's `dt` is its [`DicomInstance::day`]).
pub fn instance_batch(rows: &[DicomInstance]) -> Result<RecordBatch, ImagingError> {
    fn text<F: Fn(&DicomInstance) -> &str>(rows: &[DicomInstance], f: F) -> ArrayRef {
        Arc::new(StringArray::from_iter(rows.iter().map(|r| {
            let v = f(r);
            (!v.is_empty()).then_some(v)
        })))
    }
    fn uid<F: Fn(&DicomInstance) -> &str>(rows: &[DicomInstance], f: F) -> ArrayRef {
        Arc::new(StringArray::from_iter_values(rows.iter().map(f)))
    }
    fn int<F: Fn(&DicomInstance) -> Option<i32>>(rows: &[DicomInstance], f: F) -> ArrayRef {
        Arc::new(Int32Array::from_iter(rows.iter().map(f)))
    }
    let epoch = NaiveDate::from_ymd_opt(1970, 1, 1).expect("a valid date");
    let columns: Vec<ArrayRef> = vec![
        uid(rows, |r| &r.study_instance_uid),
        uid(rows, |r| &r.series_instance_uid),
        uid(rows, |r| &r.sop_instance_uid),
        text(rows, |r| &r.sop_class_uid),
        text(rows, |r| &r.patient_pseudonym),
        text(rows, |r| &r.accession_pseudonym),
        text(rows, |r| &r.modality),
        text(rows, |r| &r.body_part),
        Arc::new(Date32Array::from_iter(
            rows.iter()
                .map(|r| r.study_date.map(|d| (d - epoch).num_days() as i32)),
        )),
        Arc::new(StringArray::from_iter(
            rows.iter()
                .map(|r| r.study_time.map(|t| t.format("%H:%M:%S").to_string())),
        )),
        int(rows, |r| r.series_number),
        int(rows, |r| r.instance_number),
        text(rows, |r| &r.station_name),
        text(rows, |r| &r.source_ae_title),
        text(rows, |r| &r.manufacturer),
        text(rows, |r| &r.model_name),
        text(rows, |r| &r.institution),
        int(rows, |r| r.rows),
        int(rows, |r| r.columns),
        int(rows, |r| r.frames),
        text(rows, |r| &r.transfer_syntax),
        Arc::new(Int64Array::from_iter_values(rows.iter().map(|r| r.bytes))),
        uid(rows, |r| r.source),
        Arc::new(
            TimestampMicrosecondArray::from_iter_values(
                rows.iter().map(|r| r.ingested_at.timestamp_micros()),
            )
            .with_timezone("UTC"),
        ),
        Arc::new(StringArray::from_iter_values(
            rows.iter().map(|r| r.day().to_string()),
        )),
    ];
    RecordBatch::try_new(instance_schema(), columns)
        .map_err(|e| ImagingError::Lake(format!("building the {INSTANCE_TABLE} batch: {e}")))
}
