//! The independent computation of every metric: straight from the business database, in
//! plain Rust, sharing nothing with the model SQL.
//!
//! After each simulated day the oracle reads the business tables (their state at the end of
//! that day, as a daily sync sees them) and derives the day's business events with the
//! attributes of the day; a metric is then an aggregate over the events of its window.
//! The imaging events and measures are in `oracle_imaging.rs`.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use chrono::{Datelike, NaiveDate, NaiveDateTime};
use rusqlite::Connection;

use super::oracle_imaging::{self, ImagingEvent};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Placed,
    Paid,
    Finished,
    RxIssued,
    RxPaid,
    Review,
    Line,
    DoctorRegistered,
    UserRegistered,
    PatientAdded,
}

/// One business event with the attributes every dimension needs.
#[derive(Debug, Clone, Default)]
pub struct Event {
    pub day: Option<NaiveDate>,
    pub kind: Option<Kind>,
    pub user: i64,
    pub patient: i64,
    pub doctor: i64,
    pub medicine: i64,
    pub cents: i64,
    pub count: i64,
    pub rating: i64,
    pub minutes: Option<f64>,
    pub dims: BTreeMap<&'static str, String>,
}

#[derive(Clone)]
struct Doctor {
    title: i64,
    specialty: i64,
    hospital: i64,
    created: NaiveDateTime,
}

#[derive(Clone)]
struct Patient {
    user: i64,
    gender: i64,
    birthday: NaiveDate,
    created: NaiveDateTime,
}

struct Consultation {
    id: i64,
    user: i64,
    patient: i64,
    doctor: i64,
    fee: i64,
    status: i64,
    created: NaiveDateTime,
    updated: NaiveDateTime,
    rating: i64,
}

/// A payment row: id, consultation, prescription, cents, status, update time, user.
type PaymentRow = (i64, Option<i64>, Option<i64>, i64, i64, NaiveDateTime, i64);

/// Everything the oracle has seen so far.
#[derive(Default)]
pub struct Oracle {
    pub events: Vec<Event>,
    /// Imaging exams ordered, performed, reported, critical findings due, scanner days.
    pub imaging: Vec<ImagingEvent>,
    finished_before: BTreeSet<i64>,
    /// The first day observed: the warehouse's first day, before which it knows no events.
    first_day: Option<NaiveDate>,
    /// (user, hospital) -> day of the first review, over the whole business database.
    first_review: HashMap<(i64, String), NaiveDate>,
    /// Registration day of each user registered while the oracle watched.
    registered: BTreeMap<i64, NaiveDate>,
    /// Days on which each user placed a consultation.
    placed_days: HashMap<i64, BTreeSet<NaiveDate>>,
}

fn ts(s: &str) -> NaiveDateTime {
    medlake_schema::parse_datetime(s).expect("business timestamps parse")
}

fn cents(v: f64) -> i64 {
    (v * 100.0).round() as i64
}

pub fn age_group(birthday: NaiveDate, day: NaiveDate) -> &'static str {
    let mut age = day.year() - birthday.year();
    if (birthday.month(), birthday.day()) > (day.month(), day.day()) {
        age -= 1;
    }
    match age {
        ..=2 => "0-2 婴儿",
        3..=5 => "3-5 幼儿",
        6..=11 => "6-11 儿童",
        12..=17 => "12-17 少年",
        18..=29 => "18-29 青年",
        30..=59 => "30-59 中年",
        _ => "60+ 老年",
    }
}

impl Oracle {
    /// How many (user, hospital) pairs had their first review before `day`: the history a
    /// warehouse first built on `day` must know to count first-time reviewers right.
    pub fn first_reviews_before(&self, day: NaiveDate) -> usize {
        self.first_review.values().filter(|d| **d < day).count()
    }

    /// Reads the business database as it is at the end of `day` and records the day's events.
    pub fn observe_day(&mut self, db: &std::path::Path, day: NaiveDate) {
        let conn =
            Connection::open_with_flags(db, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY).unwrap();
        let dict: HashMap<i64, String> = query(&conn, "SELECT id, value FROM dict", |r| {
            Ok((r.get(0)?, r.get(1)?))
        })
        .into_iter()
        .collect();
        let hospitals: HashMap<i64, [String; 4]> = query(
            &conn,
            "SELECT id, name, level, province, city FROM hospital",
            |r| Ok((r.get(0)?, [r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?])),
        )
        .into_iter()
        .collect();
        let doctors: HashMap<i64, Doctor> = query(
            &conn,
            "SELECT id, title, specialty, hospital_id, create_time FROM doctor",
            |r| {
                Ok((
                    r.get(0)?,
                    Doctor {
                        title: r.get(1)?,
                        specialty: r.get(2)?,
                        hospital: r.get(3)?,
                        created: ts(&r.get::<_, String>(4)?),
                    },
                ))
            },
        )
        .into_iter()
        .collect();
        let patients: HashMap<i64, Patient> = query(
            &conn,
            "SELECT id, user_id, gender, birthday, create_time FROM patient",
            |r| {
                Ok((
                    r.get(0)?,
                    Patient {
                        user: r.get(1)?,
                        gender: r.get(2)?,
                        birthday: r.get::<_, String>(3)?.parse().unwrap(),
                        created: ts(&r.get::<_, String>(4)?),
                    },
                ))
            },
        )
        .into_iter()
        .collect();
        let medicines: HashMap<i64, (String, i64)> =
            query(&conn, "SELECT id, dose_type, price FROM medicine", |r| {
                Ok((r.get(0)?, (r.get(1)?, cents(r.get(2)?))))
            })
            .into_iter()
            .collect();
        let on_day = |t: &NaiveDateTime| t.date() == day;

        let doctor_dims = |id: i64| -> BTreeMap<&'static str, String> {
            let mut d = BTreeMap::new();
            if let Some(doc) = doctors.get(&id) {
                if let Some(h) = hospitals.get(&doc.hospital) {
                    d.insert("hospital", doc.hospital.to_string());
                    d.insert("hospital_level", h[1].clone());
                    d.insert("province", h[2].clone());
                    d.insert("city", h[3].clone());
                }
                d.insert("title", dict[&doc.title].clone());
                d.insert("specialty", dict[&doc.specialty].clone());
            }
            d
        };
        let patient_dims = |id: i64| -> BTreeMap<&'static str, String> {
            let mut d = BTreeMap::new();
            if let Some(p) = patients.get(&id) {
                d.insert("gender", dict[&p.gender].clone());
                d.insert("age_group", age_group(p.birthday, day).to_string());
            }
            d
        };
        let both = |doctor: i64, patient: i64| {
            let mut d = doctor_dims(doctor);
            d.extend(patient_dims(patient));
            d
        };
        let event = |kind: Kind| Event {
            day: Some(day),
            kind: Some(kind),
            ..Default::default()
        };

        let consultations: Vec<Consultation> = query(
            &conn,
            "SELECT id, user_id, patient_id, doctor_id, consultation_fee, status, create_time, update_time, coalesce(rating, 0) FROM consultation",
            |r| {
                Ok(Consultation {
                    id: r.get(0)?,
                    user: r.get(1)?,
                    patient: r.get(2)?,
                    doctor: r.get(3)?,
                    fee: cents(r.get(4)?),
                    status: r.get(5)?,
                    created: ts(&r.get::<_, String>(6)?),
                    updated: ts(&r.get::<_, String>(7)?),
                    rating: r.get(8)?,
                })
            },
        );
        let by_id: HashMap<i64, &Consultation> = consultations.iter().map(|c| (c.id, c)).collect();
        let payments: Vec<PaymentRow> = query(
            &conn,
            "SELECT id, consultation_id, prescription_id, payment_amount, status, update_time, user_id FROM payment",
            |r| {
                Ok((
                    r.get(0)?,
                    r.get(1)?,
                    r.get(2)?,
                    cents(r.get(3)?),
                    r.get(4)?,
                    ts(&r.get::<_, String>(5)?),
                    r.get(6)?,
                ))
            },
        );
        let first_day = *self.first_day.get_or_insert(day);
        // A fee paid before the first day is not an event the warehouse saw.
        let fee_paid_at: HashMap<i64, NaiveDateTime> = payments
            .iter()
            .filter(|p| p.4 == 203 && p.5.date() >= first_day)
            .filter_map(|p| p.1.map(|c| (c, p.5)))
            .collect();
        // prescription: id, doctor, patient, total, created
        let prescriptions: HashMap<i64, (i64, i64, i64, NaiveDateTime)> = query(
            &conn,
            "SELECT id, doctor_id, patient_id, total_amount, create_time FROM prescription",
            |r| {
                Ok((
                    r.get(0)?,
                    (
                        r.get(1)?,
                        r.get(2)?,
                        cents(r.get(3)?),
                        ts(&r.get::<_, String>(4)?),
                    ),
                ))
            },
        )
        .into_iter()
        .collect();

        let mut new_events = Vec::new();
        for c in &consultations {
            if on_day(&c.created) {
                new_events.push(Event {
                    user: c.user,
                    patient: c.patient,
                    doctor: c.doctor,
                    cents: c.fee,
                    dims: both(c.doctor, c.patient),
                    ..event(Kind::Placed)
                });
                self.placed_days.entry(c.user).or_default().insert(day);
            }
            // A consultation already finished when first seen, and not changed since, finished
            // before the first day.
            if c.status >= 205 && !self.finished_before.contains(&c.id) && on_day(&c.updated) {
                let minutes = fee_paid_at.get(&c.id).map(|paid| {
                    (c.updated.and_utc().timestamp_micros() - paid.and_utc().timestamp_micros())
                        as f64
                        / 60_000_000.0
                });
                new_events.push(Event {
                    user: c.user,
                    patient: c.patient,
                    doctor: c.doctor,
                    minutes,
                    dims: both(c.doctor, c.patient),
                    ..event(Kind::Finished)
                });
            }
            if c.status == 207 && on_day(&c.updated) {
                new_events.push(Event {
                    user: c.user,
                    patient: c.patient,
                    doctor: c.doctor,
                    rating: c.rating,
                    dims: both(c.doctor, c.patient),
                    ..event(Kind::Review)
                });
            }
            // First-ever reviews over the whole business database: a review written before
            // the warehouse's first day counts as the user's first of the hospital too.
            if c.status == 207 {
                if let Some(h) = doctor_dims(c.doctor).get("hospital") {
                    let reviewed = c.updated.date();
                    let first = self
                        .first_review
                        .entry((c.user, h.clone()))
                        .or_insert(reviewed);
                    *first = (*first).min(reviewed);
                }
            }
        }
        for c in &consultations {
            if c.status >= 205 {
                self.finished_before.insert(c.id);
            }
        }
        for p in &payments {
            if p.4 != 203 || !on_day(&p.5) {
                continue;
            }
            if let Some(c) = p.1.and_then(|id| by_id.get(&id)) {
                new_events.push(Event {
                    user: p.6,
                    patient: c.patient,
                    doctor: c.doctor,
                    cents: p.3,
                    dims: both(c.doctor, c.patient),
                    ..event(Kind::Paid)
                });
            }
            if let Some(rx) = p.2.and_then(|id| prescriptions.get(&id)) {
                new_events.push(Event {
                    user: p.6,
                    patient: rx.1,
                    doctor: rx.0,
                    cents: p.3,
                    dims: both(rx.0, rx.1),
                    ..event(Kind::RxPaid)
                });
            }
        }
        for (doctor, patient, total, created) in prescriptions.values() {
            if on_day(created) {
                new_events.push(Event {
                    user: patients.get(patient).map_or(0, |p| p.user),
                    patient: *patient,
                    doctor: *doctor,
                    cents: *total,
                    dims: both(*doctor, *patient),
                    ..event(Kind::RxIssued)
                });
            }
        }
        let lines: Vec<(i64, i64, i64, NaiveDateTime)> = query(
            &conn,
            "SELECT prescription_id, medicine_id, count, create_time FROM prescription_detail",
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, ts(&r.get::<_, String>(3)?))),
        );
        for (rx, medicine, count, created) in lines {
            if !on_day(&created) {
                continue;
            }
            let (dose_type, price) = medicines[&medicine].clone();
            let mut dims = BTreeMap::new();
            dims.insert("dose_type", dose_type);
            if let Some((doctor, ..)) = prescriptions.get(&rx) {
                let d = doctor_dims(*doctor);
                for k in ["hospital", "province"] {
                    if let Some(v) = d.get(k) {
                        dims.insert(k, v.clone());
                    }
                }
            }
            new_events.push(Event {
                medicine,
                count,
                cents: count * price,
                dims,
                ..event(Kind::Line)
            });
        }
        for (id, d) in &doctors {
            if on_day(&d.created) {
                new_events.push(Event {
                    doctor: *id,
                    dims: doctor_dims(*id),
                    ..event(Kind::DoctorRegistered)
                });
            }
        }
        for (id, created) in query(&conn, "SELECT id, create_time FROM user", |r| {
            Ok((r.get::<_, i64>(0)?, ts(&r.get::<_, String>(1)?)))
        }) {
            if on_day(&created) {
                self.registered.insert(id, day);
                new_events.push(Event {
                    user: id,
                    ..event(Kind::UserRegistered)
                });
            }
        }
        for (id, p) in &patients {
            if on_day(&p.created) {
                new_events.push(Event {
                    patient: *id,
                    user: p.user,
                    dims: patient_dims(*id),
                    ..event(Kind::PatientAdded)
                });
            }
        }
        self.events.extend(new_events);
        self.imaging
            .extend(oracle_imaging::observe_day(&conn, day, &dict));
    }

    /// The value of every group of `measure` cut by `dimension` over the `window` days ending
    /// on `day`; zero and undefined values are left out, as in the long table.
    pub fn values(
        &self,
        measure: &str,
        dimension: &str,
        window: u32,
        day: NaiveDate,
    ) -> BTreeMap<String, f64> {
        if let Some(imaging) =
            oracle_imaging::values(&self.imaging, measure, dimension, window, day)
        {
            return imaging;
        }
        let start = day - chrono::Duration::days(i64::from(window) - 1);
        let in_window = |e: &&Event| e.day.is_some_and(|d| d >= start && d <= day);
        let key = |e: &Event| -> Option<String> {
            if dimension == "overall" {
                Some("all".into())
            } else {
                e.dims.get(dimension).cloned()
            }
        };
        let mut groups: BTreeMap<String, Vec<&Event>> = BTreeMap::new();
        for e in self.events.iter().filter(in_window) {
            if let Some(k) = key(e) {
                groups.entry(k).or_default().push(e);
            }
        }
        let mut out = BTreeMap::new();
        match measure {
            "first_time_reviewers" => {
                let mut users: BTreeMap<String, BTreeSet<i64>> = BTreeMap::new();
                // First ever over the whole business database, counted on the days the
                // warehouse observed (a window's days before its first day add nothing).
                let observed_from = self.first_day.map_or(start, |f| start.max(f));
                for ((user, hospital), first) in &self.first_review {
                    if *first >= observed_from && *first <= day {
                        let k = if dimension == "overall" {
                            "all".to_string()
                        } else {
                            hospital.clone()
                        };
                        users.entry(k).or_default().insert(*user);
                    }
                }
                for (k, u) in users {
                    out.insert(k, u.len() as f64);
                }
                return out;
            }
            "new_user_consultation_rate" => {
                let new: Vec<(&i64, &NaiveDate)> = self
                    .registered
                    .iter()
                    .filter(|(_, d)| **d >= start && **d <= day)
                    .collect();
                let converted = new
                    .iter()
                    .filter(|(u, reg)| {
                        self.placed_days
                            .get(u)
                            .is_some_and(|days| days.iter().any(|d| d >= reg && *d <= day))
                    })
                    .count();
                if !new.is_empty() && converted > 0 {
                    out.insert("all".into(), converted as f64 / new.len() as f64);
                }
                return out;
            }
            _ => {}
        }
        for (k, events) in groups {
            if let Some(v) = evaluate(measure, &events).filter(|v| *v != 0.0 && v.is_finite()) {
                out.insert(k, v);
            }
        }
        out
    }
}

fn evaluate(measure: &str, events: &[&Event]) -> Option<f64> {
    let of = |k: Kind| events.iter().filter(move |e| e.kind == Some(k));
    let count = |k: Kind| of(k).count() as f64;
    let money = |k: Kind| of(k).map(|e| e.cents).sum::<i64>() as f64 / 100.0;
    let distinct =
        |k: Kind, f: fn(&Event) -> i64| of(k).map(|e| f(e)).collect::<BTreeSet<_>>().len() as f64;
    let ratio = |n: f64, d: f64| if d == 0.0 { None } else { Some(n / d) };
    Some(match measure {
        "consultation_placed_count" => count(Kind::Placed),
        "consultation_placed_amount" => money(Kind::Placed),
        "consultation_paid_count" => count(Kind::Paid),
        "consultation_paid_amount" => money(Kind::Paid),
        "prescription_paid_count" => count(Kind::RxPaid),
        "prescription_paid_amount" => money(Kind::RxPaid),
        "total_paid_amount" => {
            (of(Kind::Paid).map(|e| e.cents).sum::<i64>()
                + of(Kind::RxPaid).map(|e| e.cents).sum::<i64>()) as f64
                / 100.0
        }
        "avg_consultation_fee" => return ratio(money(Kind::Paid), count(Kind::Paid)),
        "pay_conversion_rate" => return ratio(count(Kind::Paid), count(Kind::Placed)),
        "paying_users" => distinct(Kind::Paid, |e| e.user),
        "consultation_finished_count" => count(Kind::Finished),
        "median_paid_to_finished_minutes" => {
            let mut m: Vec<f64> = of(Kind::Finished).filter_map(|e| e.minutes).collect();
            if m.is_empty() {
                return None;
            }
            m.sort_by(f64::total_cmp);
            let n = m.len();
            if n % 2 == 1 {
                m[n / 2]
            } else {
                (m[n / 2 - 1] + m[n / 2]) / 2.0
            }
        }
        "prescription_issued_count" => count(Kind::RxIssued),
        "prescription_issued_amount" => money(Kind::RxIssued),
        "prescription_rate" => return ratio(count(Kind::RxIssued), count(Kind::Finished)),
        "avg_prescription_amount" => return ratio(money(Kind::RxIssued), count(Kind::RxIssued)),
        "consulting_patients" => distinct(Kind::Placed, |e| e.patient),
        "new_doctors" => count(Kind::DoctorRegistered),
        "active_doctors" => distinct(Kind::Finished, |e| e.doctor),
        "paying_doctors" => distinct(Kind::Paid, |e| e.doctor),
        "consultations_per_paying_doctor" => {
            return ratio(count(Kind::Paid), distinct(Kind::Paid, |e| e.doctor))
        }
        "new_users" => count(Kind::UserRegistered),
        "new_patients" => count(Kind::PatientAdded),
        "active_users" => distinct(Kind::Placed, |e| e.user),
        "review_count" => count(Kind::Review),
        "good_review_count" => of(Kind::Review).filter(|e| e.rating == 5).count() as f64,
        "good_review_rate" => {
            return ratio(
                of(Kind::Review).filter(|e| e.rating == 5).count() as f64,
                count(Kind::Review),
            )
        }
        "avg_rating" => {
            return ratio(
                of(Kind::Review).map(|e| e.rating).sum::<i64>() as f64,
                count(Kind::Review),
            )
        }
        "medicine_line_count" => count(Kind::Line),
        "medicine_quantity" => of(Kind::Line).map(|e| e.count).sum::<i64>() as f64,
        "medicine_amount" => money(Kind::Line),
        "distinct_medicines" => distinct(Kind::Line, |e| e.medicine),
        other => panic!("the oracle has no independent definition of measure {other}; add one"),
    })
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
