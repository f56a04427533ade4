//! The independent computation of the imaging metrics: straight from the business
//! database's `exam_order`, `exam_report` and `scanner` tables, in plain Rust, sharing
//! nothing with the model SQL or the warehouse's quantile code.
//!
//! The rules, as docs/domain.md states them:
//! - an exam is ordered or reported on the day of its `ordered_time` or `reported_time`,
//!   and performed on the day it ended on the scanner, `performed_time` (its start) plus
//!   `exam_minutes`: the business writes the performed state then;
//! - turnarounds are whole minutes: the difference floored to the minute;
//! - a median or P90 is the nearest rank: the value at 1-based rank ceil(q * n) of the n
//!   sorted values of the window;
//! - a repeat is an exam whose patient had an exam of the same modality and body part
//!   started in the 168 hours before it started (strictly earlier);
//! - a report is within target when its whole minutes from exam to report are at most
//!   1440 (routine), 240 (urgent) or 60 (stat);
//! - a critical finding belongs to the day of its acknowledgement deadline, the report time
//!   plus 60 minutes, and is acknowledged within 30 (60) minutes when the acknowledgement
//!   came at most 30 (60) minutes after the report;
//! - a scanner day offers 1440 minutes and uses the scanner minutes of the exams performed
//!   on it that day.

use std::collections::{BTreeMap, HashMap};

use chrono::{NaiveDate, NaiveDateTime};
use rusqlite::Connection;

const MINUTE_MICROS: i64 = 60_000_000;
const WEEK_MICROS: i64 = 7 * 24 * 60 * MINUTE_MICROS;

/// What happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ImagingKind {
    Ordered,
    Performed,
    Reported,
    Critical,
    ScannerDay,
}

/// One imaging event with the attributes its measures and dimensions need.
#[derive(Debug, Clone)]
pub struct ImagingEvent {
    pub day: NaiveDate,
    pub kind: ImagingKind,
    /// Dimension name -> value, as the warehouse's `dimension_value`.
    pub dims: BTreeMap<&'static str, String>,
    /// Performed: whole minutes from order to exam.
    pub order_to_exam: Option<i64>,
    /// Reported: whole minutes from exam to report.
    pub exam_to_report: Option<i64>,
    /// Reported: whole minutes from order to report.
    pub order_to_report: Option<i64>,
    /// Performed: a repeat.
    pub repeat: bool,
    /// Reported: within the target of its priority.
    pub within_target: bool,
    /// Reported: the report is positive.
    pub positive: bool,
    /// Critical: acknowledged within 30 minutes.
    pub ack_30: bool,
    /// Critical: acknowledged within 60 minutes.
    pub ack_60: bool,
    /// Scanner day: minutes on the scanner.
    pub exam_minutes: i64,
    /// Scanner day: minutes the scanner was there.
    pub available_minutes: i64,
}

impl ImagingEvent {
    fn new(day: NaiveDate, kind: ImagingKind, dims: BTreeMap<&'static str, String>) -> Self {
        ImagingEvent {
            day,
            kind,
            dims,
            order_to_exam: None,
            exam_to_report: None,
            order_to_report: None,
            repeat: false,
            within_target: false,
            positive: false,
            ack_30: false,
            ack_60: false,
            exam_minutes: 0,
            available_minutes: 0,
        }
    }
}

struct Exam {
    id: i64,
    patient: i64,
    hospital: i64,
    scanner: Option<i64>,
    modality: String,
    body_part: String,
    priority: i64,
    ordered: NaiveDateTime,
    performed: Option<NaiveDateTime>,
    exam_minutes: Option<i64>,
    reported: Option<NaiveDateTime>,
}

struct Report {
    exam: i64,
    positive: bool,
    critical: bool,
    reported: NaiveDateTime,
    ack: Option<NaiveDateTime>,
}

/// An exam's patient, modality and body part: what makes a later exam a repeat.
type ExamKind<'a> = (i64, &'a str, &'a str);

fn ts(s: &str) -> NaiveDateTime {
    medlake_schema::parse_datetime(s).expect("business timestamps parse")
}

fn micros(t: &NaiveDateTime) -> i64 {
    t.and_utc().timestamp_micros()
}

/// Whole minutes from `from` to `to`, floored.
fn whole_minutes(from: &NaiveDateTime, to: &NaiveDateTime) -> i64 {
    (micros(to) - micros(from)).div_euclid(MINUTE_MICROS)
}

/// The report target of a priority code, in minutes (routine for an unknown code).
fn target_minutes(priority: i64) -> i64 {
    match priority {
        702 => 4 * 60,
        703 => 60,
        _ => 24 * 60,
    }
}

/// The events of `day`, from the business database as it is at the end of that day.
pub fn observe_day(
    conn: &Connection,
    day: NaiveDate,
    dict: &HashMap<i64, String>,
) -> Vec<ImagingEvent> {
    let exams: Vec<Exam> = query(
        conn,
        "SELECT id, patient_id, hospital_id, scanner_id, modality, body_part, priority, \
         ordered_time, performed_time, exam_minutes, reported_time FROM exam_order",
        |r| {
            Ok(Exam {
                id: r.get(0)?,
                patient: r.get(1)?,
                hospital: r.get(2)?,
                scanner: r.get(3)?,
                modality: r.get(4)?,
                body_part: r.get(5)?,
                priority: r.get(6)?,
                ordered: ts(&r.get::<_, String>(7)?),
                performed: r.get::<_, Option<String>>(8)?.map(|s| ts(&s)),
                exam_minutes: r.get(9)?,
                reported: r.get::<_, Option<String>>(10)?.map(|s| ts(&s)),
            })
        },
    );
    let reports: Vec<Report> = query(
        conn,
        "SELECT exam_order_id, positive, critical, reported_time, critical_ack_time \
         FROM exam_report",
        |r| {
            Ok(Report {
                exam: r.get(0)?,
                positive: r.get(1)?,
                critical: r.get(2)?,
                reported: ts(&r.get::<_, String>(3)?),
                ack: r.get::<_, Option<String>>(4)?.map(|s| ts(&s)),
            })
        },
    );
    let scanners: Vec<(i64, i64, String)> =
        query(conn, "SELECT id, hospital_id, modality FROM scanner", |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?))
        });
    let by_id: HashMap<i64, &Exam> = exams.iter().map(|e| (e.id, e)).collect();
    let report_of: HashMap<i64, &Report> = reports.iter().map(|r| (r.exam, r)).collect();
    let exam_dims = |e: &Exam| {
        let mut d: BTreeMap<&'static str, String> = BTreeMap::new();
        d.insert("hospital", e.hospital.to_string());
        d.insert("modality", e.modality.clone());
        d.insert("body_part", e.body_part.clone());
        if let Some(label) = dict.get(&e.priority) {
            d.insert("priority", label.clone());
        }
        d
    };
    // Performance times of each (patient, modality, body part), for the repeat rule.
    let mut performed_of: HashMap<ExamKind<'_>, Vec<(i64, i64)>> = HashMap::new();
    for e in &exams {
        if let Some(p) = &e.performed {
            performed_of
                .entry((e.patient, e.modality.as_str(), e.body_part.as_str()))
                .or_default()
                .push((e.id, micros(p)));
        }
    }
    let on_day = |t: &NaiveDateTime| t.date() == day;
    let mut out = Vec::new();
    let mut scanner_minutes: HashMap<i64, i64> = HashMap::new();
    for e in &exams {
        if on_day(&e.ordered) {
            out.push(ImagingEvent::new(day, ImagingKind::Ordered, exam_dims(e)));
        }
        let ended = e
            .performed
            .map(|p| p + chrono::Duration::minutes(e.exam_minutes.unwrap_or(0)));
        if let Some(performed) = e.performed.filter(|_| ended.is_some_and(|t| on_day(&t))) {
            let at = micros(&performed);
            let key = (e.patient, e.modality.as_str(), e.body_part.as_str());
            let repeat = performed_of[&key]
                .iter()
                .any(|(id, t)| *id != e.id && *t < at && *t >= at - WEEK_MICROS);
            if let Some(s) = e.scanner {
                *scanner_minutes.entry(s).or_insert(0) += e.exam_minutes.unwrap_or(0);
            }
            out.push(ImagingEvent {
                order_to_exam: Some(whole_minutes(&e.ordered, &performed)),
                repeat,
                ..ImagingEvent::new(day, ImagingKind::Performed, exam_dims(e))
            });
        }
        if let Some(reported) = e.reported.filter(|r| on_day(r)) {
            let exam_to_report = e.performed.map(|p| whole_minutes(&p, &reported));
            let within_target = exam_to_report.is_some_and(|m| m <= target_minutes(e.priority));
            out.push(ImagingEvent {
                exam_to_report,
                order_to_report: Some(whole_minutes(&e.ordered, &reported)),
                within_target,
                positive: report_of.get(&e.id).is_some_and(|r| r.positive),
                ..ImagingEvent::new(day, ImagingKind::Reported, exam_dims(e))
            });
        }
    }
    for r in reports.iter().filter(|r| r.critical) {
        let deadline = r.reported + chrono::Duration::minutes(60);
        if deadline.date() != day {
            continue;
        }
        let after = r.ack.map(|a| micros(&a) - micros(&r.reported));
        let dims = by_id
            .get(&r.exam)
            .map(|&e| exam_dims(e))
            .unwrap_or_default();
        out.push(ImagingEvent {
            ack_30: after.is_some_and(|us| us <= 30 * MINUTE_MICROS),
            ack_60: after.is_some_and(|us| us <= 60 * MINUTE_MICROS),
            ..ImagingEvent::new(day, ImagingKind::Critical, dims)
        });
    }
    for (id, hospital, modality) in scanners {
        let mut dims: BTreeMap<&'static str, String> = BTreeMap::new();
        dims.insert("hospital", hospital.to_string());
        dims.insert("modality", modality);
        out.push(ImagingEvent {
            exam_minutes: scanner_minutes.get(&id).copied().unwrap_or(0),
            available_minutes: 24 * 60,
            ..ImagingEvent::new(day, ImagingKind::ScannerDay, dims)
        });
    }
    out
}

/// The kind of event each imaging measure is computed over.
fn kind_of(measure: &str) -> Option<ImagingKind> {
    use ImagingKind::*;
    Some(match measure {
        "exams_ordered" => Ordered,
        "exams_performed"
        | "repeat_exams"
        | "repeat_exam_rate"
        | "order_to_exam_median_minutes"
        | "order_to_exam_p90_minutes" => Performed,
        "exams_reported"
        | "exam_to_report_median_minutes"
        | "exam_to_report_p90_minutes"
        | "order_to_report_median_minutes"
        | "order_to_report_p90_minutes"
        | "reports_within_target_rate"
        | "positive_rate" => Reported,
        "critical_findings" | "critical_ack_30_rate" | "critical_ack_60_rate" => Critical,
        "scanner_utilisation" => ScannerDay,
        _ => return None,
    })
}

/// The value of every group of an imaging `measure` cut by `dimension` over the `window`
/// days ending on `day` (zero and undefined values left out, as in the long table); none
/// when `measure` is not an imaging measure.
pub fn values(
    events: &[ImagingEvent],
    measure: &str,
    dimension: &str,
    window: u32,
    day: NaiveDate,
) -> Option<BTreeMap<String, f64>> {
    let kind = kind_of(measure)?;
    let start = day - chrono::Duration::days(i64::from(window) - 1);
    let mut groups: BTreeMap<String, Vec<&ImagingEvent>> = BTreeMap::new();
    for e in events
        .iter()
        .filter(|e| e.kind == kind && e.day >= start && e.day <= day)
    {
        let key = if dimension == "overall" {
            Some("all".to_string())
        } else {
            e.dims.get(dimension).cloned()
        };
        if let Some(k) = key {
            groups.entry(k).or_default().push(e);
        }
    }
    let mut out = BTreeMap::new();
    for (k, group) in groups {
        if let Some(v) = evaluate(measure, &group).filter(|v| *v != 0.0 && v.is_finite()) {
            out.insert(k, v);
        }
    }
    Some(out)
}

/// The value at 1-based rank ceil(tenths / 10 * n) of the sorted values.
fn nearest_rank(mut values: Vec<i64>, tenths: usize) -> Option<f64> {
    if values.is_empty() {
        return None;
    }
    values.sort_unstable();
    let rank = (tenths * values.len()).div_ceil(10).max(1);
    Some(values[rank - 1] as f64)
}

fn evaluate(measure: &str, events: &[&ImagingEvent]) -> Option<f64> {
    let n = events.len() as f64;
    let count = |f: fn(&ImagingEvent) -> bool| events.iter().filter(|e| f(e)).count() as f64;
    let ratio = |num: f64, den: f64| if den == 0.0 { None } else { Some(num / den) };
    let minutes = |f: fn(&ImagingEvent) -> Option<i64>| -> Vec<i64> {
        events.iter().filter_map(|e| f(e)).collect()
    };
    match measure {
        "exams_ordered" | "exams_performed" | "exams_reported" | "critical_findings" => Some(n),
        "repeat_exams" => Some(count(|e| e.repeat)),
        "repeat_exam_rate" => ratio(count(|e| e.repeat), n),
        "order_to_exam_median_minutes" => nearest_rank(minutes(|e| e.order_to_exam), 5),
        "order_to_exam_p90_minutes" => nearest_rank(minutes(|e| e.order_to_exam), 9),
        "exam_to_report_median_minutes" => nearest_rank(minutes(|e| e.exam_to_report), 5),
        "exam_to_report_p90_minutes" => nearest_rank(minutes(|e| e.exam_to_report), 9),
        "order_to_report_median_minutes" => nearest_rank(minutes(|e| e.order_to_report), 5),
        "order_to_report_p90_minutes" => nearest_rank(minutes(|e| e.order_to_report), 9),
        "reports_within_target_rate" => ratio(count(|e| e.within_target), n),
        "positive_rate" => ratio(count(|e| e.positive), n),
        "critical_ack_30_rate" => ratio(count(|e| e.ack_30), n),
        "critical_ack_60_rate" => ratio(count(|e| e.ack_60), n),
        "scanner_utilisation" => ratio(
            events.iter().map(|e| e.exam_minutes).sum::<i64>() as f64,
            events.iter().map(|e| e.available_minutes).sum::<i64>() as f64,
        ),
        other => panic!("the oracle has no independent definition of measure {other}; add one"),
    }
}

fn query<T>(
    conn: &Connection,
    sql: &str,
    f: impl FnMut(&rusqlite::Row<'_>) -> rusqlite::Result<T>,
) -> Vec<T> {
    let mut stmt = conn.prepare(sql).unwrap();
    let rows = stmt.query_map([], f).unwrap();
    rows.map(|r| r.unwrap()).collect()
}
