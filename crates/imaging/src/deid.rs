//! De-identification of DICOM headers on their way to the lake (DICOM PS3.15, Annex E).
//!
//! The lake row ([`DicomInstance`]) is an allow-list: it is built from the few attributes
//! [`crate::header`] takes out of a header, so every attribute the Basic Application Level
//! Confidentiality Profile removes or empties (Patient's Name, Birth Date, Address, Other
//! Patient IDs, Patient Comments, Referring Physician, operators, free-text descriptions,
//! private tags, ...) is absent by construction. Of the profile's attributes that the row
//! does carry:
//!
//! | Attribute | Profile action | Here |
//! |---|---|---|
//! | Patient ID (0010,0020) | Z (replace) | keyed pseudonym ([`pseudonym`]) |
//! | Accession Number (0008,0050) | Z (replace) | keyed pseudonym |
//! | Study/Series/SOP Instance UID | U | kept: Retain UIDs Option (the PACS and the lake must name the same study) |
//! | Study Date, Study Time | Z / X | kept: Retain Longitudinal Temporal Information with Full Dates Option (turnaround needs them); `dates = "remove"` drops them |
//! | Station Name (0008,1010) | X | kept: Retain Device Identity Option (scanner utilisation) |
//! | Institution Name (0008,0080) | X | kept: Retain Institution Identity Option (the performing hospital) |
//!
//! The pseudonym is HMAC-SHA-256 under the deployment's pseudonym key, the first 16 bytes
//! in hex: the same function, with the same key, as the business side's `hash` mask, so a
//! study still joins its exam order and patient, and without the key a guessed ID cannot
//! be checked.

use chrono::{DateTime, NaiveDate, NaiveTime, Utc};

use crate::header::RawHeader;

pub use medlake_schema::pseudonym;

/// Whether study dates and times reach the lake.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum DatePolicy {
    /// Kept as they are (PS3.15 Retain Longitudinal Temporal Information, Full Dates).
    #[default]
    Keep,
    /// Dropped: the row's study date and time are empty and it is filed under its ingest day.
    Remove,
}

/// One instance as the lake keeps it: no attribute that identifies the patient.
#[derive(Debug, Clone, PartialEq)]
pub struct DicomInstance {
    pub study_instance_uid: String,
    pub series_instance_uid: String,
    pub sop_instance_uid: String,
    pub sop_class_uid: String,
    pub patient_pseudonym: String,
    pub accession_pseudonym: String,
    pub modality: String,
    pub body_part: String,
    pub study_date: Option<NaiveDate>,
    pub study_time: Option<NaiveTime>,
    pub series_number: Option<i32>,
    pub instance_number: Option<i32>,
    pub station_name: String,
    pub source_ae_title: String,
    pub manufacturer: String,
    pub model_name: String,
    pub institution: String,
    pub rows: Option<i32>,
    pub columns: Option<i32>,
    pub frames: Option<i32>,
    pub transfer_syntax: String,
    /// Size of the Part 10 object in bytes.
    pub bytes: i64,
    /// Which kind of source it came from: `folder`, `orthanc` or `dicomweb`.
    pub source: &'static str,
    pub ingested_at: DateTime<Utc>,
}

impl DicomInstance {
    /// The day the row is filed under: its study date, or its ingest day without one.
    pub fn day(&self) -> NaiveDate {
        self.study_date
            .unwrap_or_else(|| self.ingested_at.date_naive())
    }
}

/// Turns raw headers into lake rows under one key and date policy.
#[derive(Clone)]
pub struct Deidentifier {
    key: Vec<u8>,
    dates: DatePolicy,
}

impl std::fmt::Debug for Deidentifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Deidentifier")
            .field("key", &"<redacted>")
            .field("dates", &self.dates)
            .finish()
    }
}

impl Deidentifier {
    /// A de-identifier with `key` (at least 16 bytes: a short key makes pseudonyms guessable).
    pub fn new(key: &[u8], dates: DatePolicy) -> Result<Deidentifier, crate::ImagingError> {
        if key.len() < 16 {
            return Err(crate::ImagingError::Config(
                "the pseudonym key must be at least 16 bytes".into(),
            ));
        }
        Ok(Deidentifier {
            key: key.to_vec(),
            dates,
        })
    }

    /// The pseudonym of `value` under this de-identifier's key.
    pub fn pseudonym(&self, value: &str) -> String {
        pseudonym(&self.key, value)
    }

    /// The lake row of `header` (consumed: its identifiers go no further).
    pub fn apply(
        &self,
        header: RawHeader,
        bytes: i64,
        source: &'static str,
        ingested_at: DateTime<Utc>,
    ) -> DicomInstance {
        let (study_date, study_time) = match self.dates {
            DatePolicy::Keep => (
                parse_date(&header.study_date),
                parse_time(&header.study_time),
            ),
            DatePolicy::Remove => (None, None),
        };
        DicomInstance {
            patient_pseudonym: self.pseudonym(&header.patient_id),
            accession_pseudonym: self.pseudonym(&header.accession),
            study_instance_uid: header.study_instance_uid,
            series_instance_uid: header.series_instance_uid,
            sop_instance_uid: header.sop_instance_uid,
            sop_class_uid: header.sop_class_uid,
            modality: header.modality,
            body_part: header.body_part,
            study_date,
            study_time,
            series_number: header.series_number,
            instance_number: header.instance_number,
            station_name: header.station_name,
            source_ae_title: header.source_ae_title,
            manufacturer: header.manufacturer,
            model_name: header.model_name,
            institution: header.institution,
            rows: header.rows,
            columns: header.columns,
            frames: header.frames,
            transfer_syntax: header.transfer_syntax,
            bytes,
            source,
            ingested_at,
        }
    }
}

/// A DA value (`YYYYMMDD`, or the old `YYYY.MM.DD`).
pub fn parse_date(value: &str) -> Option<NaiveDate> {
    let digits: String = value.chars().filter(char::is_ascii_digit).collect();
    NaiveDate::parse_from_str(digits.get(..8)?, "%Y%m%d").ok()
}

/// A TM value (`HH`, `HHMM`, `HHMMSS`, `HHMMSS.F...`, or the old `HH:MM:SS`).
pub fn parse_time(value: &str) -> Option<NaiveTime> {
    let main: String = value
        .split('.')
        .next()?
        .chars()
        .filter(char::is_ascii_digit)
        .collect();
    let field = |i: usize| main.get(i..i + 2).and_then(|s| s.parse::<u32>().ok());
    let hour = field(0)?;
    NaiveTime::from_hms_opt(hour, field(2).unwrap_or(0), field(4).unwrap_or(0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pseudonyms_are_keyed_stable_and_empty_for_empty() {
        let a = pseudonym(b"0123456789abcdef", "PID-1");
        assert_eq!(a.len(), 32);
        assert_eq!(a, pseudonym(b"0123456789abcdef", "PID-1"));
        assert_ne!(a, pseudonym(b"fedcba9876543210", "PID-1"));
        assert_ne!(a, pseudonym(b"0123456789abcdef", "PID-2"));
        assert_eq!(pseudonym(b"0123456789abcdef", ""), "");
    }

    #[test]
    fn a_short_key_is_refused() {
        assert!(Deidentifier::new(b"short", DatePolicy::Keep).is_err());
    }

    #[test]
    fn identifiers_become_pseudonyms_and_dates_follow_the_policy() {
        let header = RawHeader {
            patient_id: "98892001".into(),
            accession: "ACC-7".into(),
            study_date: "20010101".into(),
            study_time: "093015.5".into(),
            study_instance_uid: "1.2.3".into(),
            sop_instance_uid: "1.2.3.4".into(),
            ..RawHeader::default()
        };
        let now = Utc::now();
        let key = b"0123456789abcdef0123";
        let kept = Deidentifier::new(key, DatePolicy::Keep).unwrap().apply(
            header.clone(),
            10,
            "folder",
            now,
        );
        assert_eq!(kept.patient_pseudonym, pseudonym(key, "98892001"));
        assert_eq!(kept.accession_pseudonym, pseudonym(key, "ACC-7"));
        assert_eq!(kept.study_date, NaiveDate::from_ymd_opt(2001, 1, 1));
        assert_eq!(kept.study_time, NaiveTime::from_hms_opt(9, 30, 15));
        let dropped = Deidentifier::new(key, DatePolicy::Remove)
            .unwrap()
            .apply(header, 10, "folder", now);
        assert_eq!(dropped.study_date, None);
        assert_eq!(dropped.day(), now.date_naive());
        assert!(!format!("{dropped:?}").contains("98892001"));
    }

    #[test]
    fn dicom_dates_and_times_parse_in_their_old_and_new_forms() {
        assert_eq!(
            parse_date("2001.01.02"),
            NaiveDate::from_ymd_opt(2001, 1, 2)
        );
        assert_eq!(parse_date(""), None);
        assert_eq!(parse_date("2001"), None);
        assert_eq!(parse_time("0930"), NaiveTime::from_hms_opt(9, 30, 0));
        assert_eq!(parse_time("09:30:15"), NaiveTime::from_hms_opt(9, 30, 15));
        assert_eq!(parse_time("99"), None);
    }
}
