//! Imaging: the scanners, and the exam orders and reports consultations give rise to. Life
//! cycles in order and inside the simulator's limit, the volume of SF 1, results, repeats
//! and cancellations as docs/domain.md ('The imaging exam life cycle') describes them.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{Days, NaiveDateTime, TimeDelta};
use medlake_schema::codes::{
    EXAM_CANCELLED, EXAM_ORDERED, EXAM_PAID, EXAM_PERFORMED, EXAM_REPORTED, EXAM_SCHEDULED,
    EXAM_VERIFIED,
};
use medlake_schema::imaging::{accession_no, MODALITIES};
use medlake_schema::Value;
use medlake_sim::{Change, Simulator, Txn};

use crate::common::params;

const DAYS: u32 = 8;
const SCALE: f64 = 0.01;

/// A row by column name.
type Row = BTreeMap<&'static str, Value>;

/// One table's rows as the transactions leave them.
#[derive(Default)]
struct Rows {
    /// The row after its last change, by id.
    last: BTreeMap<i64, Row>,
    /// Every status the row went through, in order (tables with a status).
    statuses: BTreeMap<i64, Vec<i64>>,
    /// When the row was inserted.
    created: BTreeMap<i64, NaiveDateTime>,
}

/// The initial population (with the warm-up days) and the days of a small world.
struct World {
    start: NaiveDateTime,
    population: Vec<Txn>,
    days: Vec<Vec<Txn>>,
}

fn world() -> World {
    let sim = Simulator::new(params(5, SCALE)).unwrap();
    World {
        start: sim.params().start.and_hms_opt(0, 0, 0).unwrap(),
        population: sim.initial_population().collect(),
        days: (0..DAYS).map(|d| sim.day_events(d)).collect(),
    }
}

fn int(v: &Value) -> i64 {
    match v {
        Value::Int(x) | Value::Money(x) => *x,
        other => panic!("not an int: {other:?}"),
    }
}

/// A datetime cell, `None` when NULL.
fn time(v: &Value) -> Option<NaiveDateTime> {
    match v {
        Value::DateTime(t) => Some(*t),
        Value::Null => None,
        other => panic!("not a datetime: {other:?}"),
    }
}

impl World {
    fn txns(&self) -> impl Iterator<Item = &Txn> + '_ {
        self.population.iter().chain(self.days.iter().flatten())
    }

    /// The rows of `table`, replaying every insert and update.
    fn rows(&self, table: &str) -> Rows {
        let mut rows = Rows::default();
        for txn in self.txns() {
            for change in &txn.changes {
                match change {
                    Change::Insert { table: t, row } if t.name == table => {
                        let id = int(&row[0]);
                        let cells: Row = t.column_names().zip(row.iter().cloned()).collect();
                        if let Some(Value::Int(status)) = cells.get("status") {
                            rows.statuses.insert(id, vec![*status]);
                        }
                        rows.created.insert(id, txn.time);
                        assert!(rows.last.insert(id, cells).is_none(), "{table} {id} twice");
                    }
                    Change::Update { table: t, id, set } if t.name == table => {
                        let row = rows.last.get_mut(id).expect("update after insert");
                        for (column, value) in set {
                            row.insert(*column, value.clone());
                            if *column == "status" {
                                rows.statuses.get_mut(id).unwrap().push(int(value));
                            }
                        }
                    }
                    _ => {}
                }
            }
        }
        rows
    }
}

/// Valid next statuses of an exam order.
fn allowed(from: i64, to: i64) -> bool {
    matches!(
        (from, to),
        (601, 602) | (602, 603) | (603, 604) | (604, 605) | (605, 606) | (601..=603, 607)
    )
}

#[test]
fn exam_life_cycles_are_in_order_and_inside_the_limit() {
    let w = world();
    let orders = w.rows("exam_order");
    let consultations = w.rows("consultation");
    assert!(orders.last.len() > 1000, "{}", orders.last.len());
    let mut ends = BTreeSet::new();
    let (mut settled, mut cancelled) = (0, 0);
    let settled_before = w.start + Days::new(u64::from(DAYS - 3));
    for (id, row) in &orders.last {
        let path = &orders.statuses[id];
        assert_eq!(path[0], EXAM_ORDERED, "{id}");
        assert!(
            path.windows(2).all(|p| allowed(p[0], p[1])),
            "{id}: {path:?}"
        );
        let end = *path.last().unwrap();
        ends.insert(end);
        // Each step's time is set exactly when the exam went through the step.
        for (column, status) in [
            ("paid_time", EXAM_PAID),
            ("scheduled_time", EXAM_SCHEDULED),
            ("performed_time", EXAM_PERFORMED),
            ("reported_time", EXAM_REPORTED),
            ("verified_time", EXAM_VERIFIED),
            ("cancelled_time", EXAM_CANCELLED),
        ] {
            assert_eq!(
                time(&row[column]).is_some(),
                path.contains(&status),
                "{id} {column}: {path:?}"
            );
        }
        assert_eq!(
            row["scanner_id"] != Value::Null,
            path.contains(&EXAM_SCHEDULED)
        );
        assert_eq!(
            row["exam_minutes"] != Value::Null,
            path.contains(&EXAM_PERFORMED)
        );
        assert_eq!(row["ordered_time"], row["create_time"]);
        let times: Vec<NaiveDateTime> = [
            "ordered_time",
            "paid_time",
            "scheduled_time",
            "performed_time",
            "reported_time",
            "verified_time",
        ]
        .iter()
        .filter_map(|c| time(&row[*c]))
        .collect();
        assert!(times.windows(2).all(|t| t[0] <= t[1]), "{id}: {times:?}");
        if let Some(cancelled_at) = time(&row["cancelled_time"]) {
            assert!(times.iter().all(|t| *t <= cancelled_at), "{id}");
        }
        // Nothing happens after the end of the second day after the consultation's.
        let consultation = int(&row["consultation_id"]);
        assert_eq!(
            (id + 1) / 2,
            consultation,
            "exam ids follow the consultation"
        );
        let created = consultations.created[&consultation];
        let limit = created.date().and_hms_opt(0, 0, 0).unwrap() + Days::new(3);
        assert!(time(&row["update_time"]).unwrap() < limit, "{id}");
        if orders.created[id] < settled_before {
            settled += 1;
            cancelled += usize::from(end == EXAM_CANCELLED);
        }
    }
    // Done, cancelled, and (at the end of the window, or cut by the limit) in flight.
    assert!(ends.iter().all(|s| (601..=607).contains(s)), "{ends:?}");
    for state in [603, 604, 605, 606, 607] {
        assert!(ends.contains(&state), "{state} in {ends:?}");
    }
    let share = cancelled as f64 / settled as f64;
    assert!((0.02..0.07).contains(&share), "cancelled {share}");
}

#[test]
fn about_15000_exams_a_day_at_scale_1_following_the_consultations() {
    let w = world();
    let inserts = |txns: &[Txn], table: &str| -> Vec<i64> {
        txns.iter()
            .flat_map(|t| &t.changes)
            .filter_map(|c| match c {
                Change::Insert { table: t, row } if t.name == table => Some(int(&row[0])),
                _ => None,
            })
            .collect()
    };
    let mut total = 0;
    for (d, txns) in w.days.iter().enumerate() {
        // First exams only (odd ids), not repeats.
        let ordered = inserts(txns, "exam_order")
            .iter()
            .filter(|id| *id % 2 == 1)
            .count();
        let consultations = inserts(txns, "consultation").len();
        let rate = ordered as f64 / consultations as f64;
        assert!(
            (0.10..0.20).contains(&rate),
            "day {d}: {ordered} / {consultations}"
        );
        total += ordered;
    }
    let per_day_at_sf1 = total as f64 / f64::from(DAYS) / SCALE;
    assert!(
        (13_000.0..17_000.0).contains(&per_day_at_sf1),
        "{per_day_at_sf1} exam orders a day at SF 1"
    );
}

#[test]
fn every_report_belongs_to_a_reported_exam_and_a_few_are_critical() {
    let w = world();
    let orders = w.rows("exam_order");
    let reports = w.rows("exam_report");
    let (mut positive, mut critical, mut acked, mut acked_in_60) = (0, 0, 0, 0);
    for (id, report) in &reports.last {
        assert_eq!(int(&report["exam_order_id"]), *id);
        let order = &orders.last[id];
        assert!(orders.statuses[id].contains(&EXAM_REPORTED), "{id}");
        assert_eq!(report["reported_time"], order["reported_time"]);
        assert_eq!(report["verified_time"], order["verified_time"]);
        assert_eq!(time(&report["create_time"]), time(&order["reported_time"]));
        assert!(int(&report["radiologist_id"]) > 0);
        assert!(matches!(&report["findings"], Value::Text(s) if s.contains("检查所见")));
        let is_positive = report["positive"] == Value::Bool(true);
        let is_critical = report["critical"] == Value::Bool(true);
        positive += usize::from(is_positive);
        critical += usize::from(is_critical);
        assert!(
            is_positive || !is_critical,
            "{id}: a critical finding is positive"
        );
        if let Some(ack) = time(&report["critical_ack_time"]) {
            assert!(is_critical, "{id}");
            let minutes = (ack - time(&report["reported_time"]).unwrap()).num_minutes();
            assert!(
                (2..=180).contains(&minutes),
                "{id}: acknowledged after {minutes}"
            );
            acked += 1;
            acked_in_60 += usize::from(minutes < 60);
        }
    }
    let reported = orders
        .statuses
        .iter()
        .filter(|(_, path)| path.contains(&EXAM_REPORTED));
    for (id, _) in reported {
        assert!(reports.last.contains_key(id), "{id} has its report");
    }
    let n = reports.last.len() as f64;
    assert!(n > 800.0, "{n}");
    let critical_share = critical as f64 / n;
    assert!(
        (0.01..0.05).contains(&critical_share),
        "critical {critical_share}"
    );
    let positive_share = positive as f64 / n;
    assert!(
        (0.28..0.42).contains(&positive_share),
        "positive {positive_share}"
    );
    assert!(
        acked > 0 && acked_in_60 * 10 > acked * 6,
        "{acked_in_60} / {acked}"
    );
}

#[test]
fn repeats_examine_the_same_patient_and_body_part_again() {
    let w = world();
    let orders = w.rows("exam_order");
    let mut repeats = 0;
    for (id, row) in orders.last.iter().filter(|(id, _)| *id % 2 == 0) {
        let first = orders
            .last
            .get(&(id - 1))
            .expect("the first exam comes first");
        for column in [
            "consultation_id",
            "patient_id",
            "hospital_id",
            "modality",
            "body_part",
        ] {
            assert_eq!(row[column], first[column], "{id} {column}");
        }
        let performed = time(&first["performed_time"]).expect("the first was performed");
        let gap = time(&row["ordered_time"]).unwrap() - performed;
        assert!(
            TimeDelta::hours(1) <= gap && gap <= TimeDelta::hours(25),
            "{id}: {gap}"
        );
        repeats += 1;
    }
    let performed = orders
        .statuses
        .iter()
        .filter(|(id, path)| *id % 2 == 1 && path.contains(&EXAM_PERFORMED))
        .count();
    let share = repeats as f64 / performed as f64;
    assert!((0.01..0.06).contains(&share), "{repeats} / {performed}");
}

#[test]
fn scanners_cover_every_modality_and_take_the_exams() {
    let w = world();
    let scanners = w.rows("scanner");
    let hospitals = w.rows("hospital");
    let orders = w.rows("exam_order");
    let text = |v: &Value| match v {
        Value::Text(s) => s.clone(),
        other => panic!("not text: {other:?}"),
    };
    let titles: BTreeSet<String> = scanners
        .last
        .values()
        .map(|s| text(&s["ae_title"]))
        .collect();
    assert_eq!(titles.len(), scanners.last.len(), "AE titles are unique");
    let modalities: BTreeSet<String> = scanners
        .last
        .values()
        .map(|s| text(&s["modality"]))
        .collect();
    assert_eq!(
        modalities,
        MODALITIES.iter().map(|m| m.to_string()).collect()
    );
    for (id, s) in &scanners.last {
        let hospital = int(&s["hospital_id"]);
        assert_eq!(id / 100, hospital);
        assert!(hospitals.last.contains_key(&hospital));
    }
    for hospital in hospitals.last.keys() {
        let has = |m: &str| {
            scanners
                .last
                .values()
                .any(|s| int(&s["hospital_id"]) == *hospital && text(&s["modality"]) == m)
        };
        assert!(has("DX") && has("US"), "hospital {hospital}");
    }
    let mut ordered: BTreeMap<String, usize> = BTreeMap::new();
    for (id, order) in &orders.last {
        assert_eq!(text(&order["accession_no"]), accession_no(*id));
        let modality = text(&order["modality"]);
        let item = text(&order["exam_item"]);
        assert!(item.starts_with(&format!("{modality}-{}", text(&order["body_part"]))));
        if let Value::Int(scanner) = order["scanner_id"] {
            let s = &scanners.last[&scanner];
            assert_eq!(s["hospital_id"], order["hospital_id"], "{id}");
            assert_eq!(text(&s["modality"]), modality, "{id}");
        }
        *ordered.entry(modality).or_default() += 1;
    }
    assert_eq!(ordered.len(), MODALITIES.len(), "{ordered:?}");
    let most = ordered.iter().max_by_key(|(_, n)| **n).unwrap().0;
    assert_eq!(most, "CT", "{ordered:?}");
}
