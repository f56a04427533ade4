//! Fault injection on a small simulated world, without a database: each kind changes the
//! clean day exactly as documented, and nothing else.

use std::collections::{BTreeSet, HashMap};

use chrono::{NaiveDate, TimeDelta};
use medlake_schema::codes::{dict_rows, PAID};
use medlake_schema::Value;

use super::{
    FaultKind, FaultSchedule, Faults, DUPLICATE_PAYMENT_OFFSET, ORPHAN_DOCTOR_OFFSET,
    UNKNOWN_STATUS,
};
use crate::model::{Change, Txn};
use crate::params::SimParams;
use crate::sim::Simulator;

fn sim() -> Simulator {
    Simulator::new(SimParams {
        seed: 21,
        scale: 0.01,
        start: NaiveDate::from_ymd_opt(2026, 4, 6).unwrap(),
    })
    .unwrap()
}

/// Day `day` with the faults `list` at `rate` on `days`; checks that `len()` was exact.
fn faulty(sim: &Simulator, list: &str, rate: f64, days: Vec<NaiveDate>, day: u32) -> Vec<Txn> {
    let faults = Faults::parse(list, rate, days).unwrap();
    let txns = faults.apply(sim, day);
    let len = txns.len();
    let out: Vec<Txn> = txns.collect();
    assert_eq!(out.len(), len, "len() must be exact");
    out
}

/// The statements that differ between two days with the same transactions and statements.
fn differing<'t>(clean: &'t [Txn], faulty: &'t [Txn]) -> Vec<(&'t Change, &'t Change)> {
    assert_eq!(clean.len(), faulty.len());
    let mut out = Vec::new();
    for (c, f) in clean.iter().zip(faulty) {
        assert_eq!(c.time, f.time);
        assert_eq!(c.changes.len(), f.changes.len());
        out.extend(c.changes.iter().zip(&f.changes).filter(|(a, b)| a != b));
    }
    out
}

fn col(table: &str, name: &str) -> usize {
    medlake_schema::table(table)
        .unwrap()
        .column_index(name)
        .unwrap()
}

/// Statements inserting into `table`.
fn inserts<'t>(txns: &'t [Txn], table: &'t str) -> impl Iterator<Item = &'t Vec<Value>> + 't {
    txns.iter()
        .flat_map(|t| &t.changes)
        .filter_map(move |c| match c {
            Change::Insert { table: t, row } if t.name == table => Some(row),
            _ => None,
        })
}

/// The value an update sets a column to.
fn set_of(set: &[(&'static str, Value)], name: &str) -> Option<Value> {
    set.iter().find(|(c, _)| *c == name).map(|(_, v)| v.clone())
}

/// The consultation a statement belongs to (ids: payment 2c-1 / 2c, prescription c,
/// prescription line 8c+k, exam order and report 2c-1 / 2c).
fn consultation_of(c: &Change) -> Option<i64> {
    match c {
        Change::Insert { table, row } => match (table.name, &row[0]) {
            ("consultation" | "prescription", Value::Int(id)) => Some(*id),
            ("prescription_detail", Value::Int(id)) => Some(id / 8),
            ("exam_order" | "exam_report", Value::Int(id)) => Some((id + 1) / 2),
            ("payment", _) => match (
                &row[col("payment", "consultation_id")],
                &row[col("payment", "prescription_id")],
            ) {
                (Value::Int(id), _) | (_, Value::Int(id)) => Some(*id),
                _ => None,
            },
            _ => None,
        },
        Change::Update { table, id, .. } => match table.name {
            "consultation" | "prescription" => Some(*id),
            "payment" | "exam_order" | "exam_report" => Some((id + 1) / 2),
            _ => None,
        },
    }
}

/// Whether `part` of `whole` is about `rate` (within a factor 2).
fn about(part: usize, whole: usize, rate: f64) -> bool {
    let share = part as f64 / whole as f64;
    share > rate / 2.0 && share < rate * 2.0
}

#[test]
fn kinds_parse_by_name_and_bad_input_is_one_line() {
    let f = Faults::parse(" volume_drop,null-amounts,volume_drop ", 0.1, vec![]).unwrap();
    assert_eq!(f.kinds, [FaultKind::NullAmounts, FaultKind::VolumeDrop]);
    assert_eq!(
        f.to_string(),
        "null_amounts,volume_drop at rate 0.1 on every day"
    );
    for k in FaultKind::ALL {
        assert_eq!(k.name().parse::<FaultKind>().unwrap(), k);
        assert!(!k.description().contains('\n'));
    }
    let err = Faults::parse("null_amounts,bogus", 0.1, vec![])
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("'bogus'") && err.contains("late_arriving"),
        "{err}"
    );
    assert!(!err.contains('\n'));
    for rate in [0.0, -0.1, 1.5, f64::NAN, f64::INFINITY] {
        assert!(Faults::parse("clock_skew", rate, vec![]).is_err(), "{rate}");
    }
    assert!(Faults::parse(" , ", 0.1, vec![]).is_err());
    assert!(Faults::parse("clock_skew", 1.0, vec![]).is_ok());
    assert!(Faults::none().is_empty());
}

#[test]
fn null_amounts_only_null_payment_amounts() {
    let s = sim();
    let clean = s.day_events(0);
    let faulty = faulty(&s, "null_amounts", 0.2, vec![], 0);
    let amount = col("payment", "payment_amount");
    assert!(inserts(&clean, "payment").all(|r| r[amount] != Value::Null));
    let diff = differing(&clean, &faulty);
    for (c, f) in &diff {
        let (Change::Insert { table, row: a }, Change::Insert { row: b, .. }) = (c, f) else {
            panic!("not an insert");
        };
        assert_eq!(table.name, "payment");
        assert_eq!(b[amount], Value::Null);
        let mut a = a.clone();
        a[amount] = Value::Null;
        assert_eq!(&a, b);
    }
    assert!(about(diff.len(), inserts(&clean, "payment").count(), 0.2));
}

#[test]
fn negative_amounts_negate_payment_amounts() {
    let s = sim();
    let clean = s.day_events(0);
    let faulty = faulty(&s, "negative_amounts", 0.2, vec![], 0);
    let amount = col("payment", "payment_amount");
    let diff = differing(&clean, &faulty);
    for (c, f) in &diff {
        let (Change::Insert { table, row: a }, Change::Insert { row: b, .. }) = (c, f) else {
            panic!("not an insert");
        };
        assert_eq!(table.name, "payment");
        let (Value::Money(x), Value::Money(y)) = (&a[amount], &b[amount]) else {
            panic!("not money");
        };
        assert!(*x > 0 && *y == -*x);
    }
    assert!(about(diff.len(), inserts(&clean, "payment").count(), 0.2));
}

#[test]
fn orphan_doctors_point_consultations_at_no_doctor() {
    let s = sim();
    let clean = s.day_events(0);
    let faulty = faulty(&s, "orphan_doctors", 0.2, vec![], 0);
    let doctor = col("consultation", "doctor_id");
    let diff = differing(&clean, &faulty);
    for (c, f) in &diff {
        let (Change::Insert { table, row: a }, Change::Insert { row: b, .. }) = (c, f) else {
            panic!("not an insert");
        };
        assert_eq!(table.name, "consultation");
        let Value::Int(id) = b[0] else {
            panic!("no id")
        };
        assert_eq!(b[doctor], Value::Int(ORPHAN_DOCTOR_OFFSET + id));
        let mut a = a.clone();
        a[doctor] = b[doctor].clone();
        assert_eq!(&a, b);
    }
    assert!(about(
        diff.len(),
        inserts(&clean, "consultation").count(),
        0.2
    ));
}

#[test]
fn clock_skew_creates_consultations_after_their_update_time() {
    let s = sim();
    let clean = s.day_events(0);
    let faulty = faulty(&s, "clock_skew", 0.2, vec![], 0);
    let (created, updated) = (
        col("consultation", "create_time"),
        col("consultation", "update_time"),
    );
    let diff = differing(&clean, &faulty);
    for (c, f) in &diff {
        let (Change::Insert { table, row: a }, Change::Insert { row: b, .. }) = (c, f) else {
            panic!("not an insert");
        };
        assert_eq!(table.name, "consultation");
        let (Value::DateTime(u), Value::DateTime(t)) = (&b[updated], &b[created]) else {
            panic!("no times");
        };
        assert_eq!(*t, *u + TimeDelta::hours(24));
        assert_eq!(a[updated], b[updated]);
        let mut a = a.clone();
        a[created] = b[created].clone();
        assert_eq!(&a, b);
    }
    assert!(about(
        diff.len(),
        inserts(&clean, "consultation").count(),
        0.2
    ));
}

#[test]
fn unknown_status_updates_consultations_to_an_undocumented_code() {
    let s = sim();
    let clean = s.day_events(0);
    let faulty = faulty(&s, "unknown_status", 0.2, vec![], 0);
    let codes: BTreeSet<i64> = dict_rows().into_iter().map(|(code, _)| code).collect();
    assert!(!codes.contains(&UNKNOWN_STATUS));
    let status_updates = clean
        .iter()
        .flat_map(|t| &t.changes)
        .filter(|c| matches!(c, Change::Update { table, set, .. } if table.name == "consultation" && set_of(set, "status").is_some()))
        .count();
    let diff = differing(&clean, &faulty);
    for (c, f) in &diff {
        let (Change::Update { table, set: a, .. }, Change::Update { set: b, .. }) = (c, f) else {
            panic!("not an update");
        };
        assert_eq!(table.name, "consultation");
        assert_eq!(set_of(b, "status"), Some(Value::Int(UNKNOWN_STATUS)));
        let Some(Value::Int(was)) = set_of(a, "status") else {
            panic!("no status")
        };
        assert!(codes.contains(&was));
        let mut a = a.clone();
        a.iter_mut()
            .filter(|(c, _)| *c == "status")
            .for_each(|(_, v)| *v = Value::Int(UNKNOWN_STATUS));
        assert_eq!(&a, b);
    }
    assert!(about(diff.len(), status_updates, 0.2));
}

#[test]
fn late_arriving_payments_are_dated_a_day_back() {
    let s = sim();
    let clean = s.day_events(0);
    let faulty = faulty(&s, "late_arriving", 0.2, vec![], 0);
    let payment_inserts = inserts(&clean, "payment").count();
    let diff = differing(&clean, &faulty);
    let mut late_ids = BTreeSet::new();
    let mut late_inserts = 0;
    for (c, f) in &diff {
        match (c, f) {
            (Change::Insert { table, row: a }, Change::Insert { row: b, .. }) => {
                assert_eq!(table.name, "payment");
                for column in ["create_time", "update_time"] {
                    let i = table.column_index(column).unwrap();
                    let (Value::DateTime(was), Value::DateTime(now)) = (&a[i], &b[i]) else {
                        panic!("no {column}");
                    };
                    assert_eq!(*now, *was - TimeDelta::hours(24), "{column}");
                }
                if let Value::Int(id) = a[0] {
                    late_ids.insert(id);
                }
                late_inserts += 1;
            }
            (Change::Update { table, id, set: a }, Change::Update { set: b, .. }) => {
                assert_eq!(table.name, "payment");
                let (Some(Value::DateTime(was)), Some(Value::DateTime(now))) =
                    (set_of(a, "update_time"), set_of(b, "update_time"))
                else {
                    panic!("no update_time");
                };
                assert_eq!(now, was - TimeDelta::hours(24));
                assert_eq!(set_of(a, "status"), set_of(b, "status"));
                late_ids.insert(*id);
            }
            _ => panic!("an insert became an update or the other way round"),
        }
    }
    assert!(late_inserts > 0 && !late_ids.is_empty());
    assert!(about(late_inserts, payment_inserts, 0.2));
}

#[test]
fn duplicate_payments_charge_twice_in_the_paying_transaction() {
    let s = sim();
    let clean = s.day_events(0);
    let faulty = faulty(&s, "duplicate_payments", 0.3, vec![], 0);
    assert_eq!(clean.len(), faulty.len());
    let inserted: HashMap<Value, Vec<Value>> = inserts(&clean, "payment")
        .map(|r| (r[0].clone(), r.clone()))
        .collect();
    let is_dup = |c: &Change| matches!(c, Change::Insert { table, row } if table.name == "payment" && matches!(row[0], Value::Int(id) if id >= DUPLICATE_PAYMENT_OFFSET));
    let (mut dups, mut paid, mut compared) = (0, 0, 0);
    for (c, f) in clean.iter().zip(&faulty) {
        paid += c
            .changes
            .iter()
            .filter(|ch| matches!(ch, Change::Update { table, set, .. } if table.name == "payment" && set_of(set, "status") == Some(Value::Int(PAID))))
            .count();
        let mut without = f.clone();
        without.changes.retain(|ch| !is_dup(ch));
        assert_eq!(&without, c);
        for (k, ch) in f.changes.iter().enumerate().filter(|(_, ch)| is_dup(ch)) {
            dups += 1;
            let Change::Insert { row, .. } = ch else {
                unreachable!()
            };
            let Value::Int(dup_id) = row[0] else {
                unreachable!()
            };
            let original = dup_id - DUPLICATE_PAYMENT_OFFSET;
            let Change::Update { table, id, set } = &f.changes[k - 1] else {
                panic!("a duplicate follows the paying update");
            };
            assert_eq!((table.name, *id), ("payment", original));
            assert_eq!(row[col("payment", "status")], Value::Int(PAID));
            assert_eq!(
                Some(row[col("payment", "update_time")].clone()),
                set_of(set, "update_time")
            );
            if let Some(first) = inserted.get(&Value::Int(original)) {
                compared += 1;
                for name in [
                    "user_id",
                    "consultation_id",
                    "prescription_id",
                    "payment_amount",
                    "create_time",
                ] {
                    assert_eq!(
                        row[col("payment", name)],
                        first[col("payment", name)],
                        "{name}"
                    );
                }
            }
        }
    }
    assert!(compared > 0);
    assert!(about(dups, paid, 0.3));
}

#[test]
fn volume_drop_removes_consultations_with_all_their_steps() {
    let s = sim();
    let day0 = s.params().date(0);
    let ids = |txns: &[Txn]| -> BTreeSet<i64> {
        inserts(txns, "consultation")
            .map(|r| match r[0] {
                Value::Int(id) => id,
                _ => panic!("no id"),
            })
            .collect()
    };
    let clean0 = s.day_events(0);
    let faulty0 = faulty(&s, "volume_drop", 0.05, vec![day0], 0);
    let (all, kept) = (ids(&clean0), ids(&faulty0));
    assert!(kept.is_subset(&all));
    let share = kept.len() as f64 / all.len() as f64;
    assert!((0.3..0.5).contains(&share), "{share}");
    let dropped: BTreeSet<i64> = all.difference(&kept).copied().collect();
    let touches_dropped = |t: &Txn| {
        t.changes
            .iter()
            .any(|c| consultation_of(c).is_some_and(|id| dropped.contains(&id)))
    };
    for day in 0..=2 {
        let clean = s.day_events(day);
        let faulty = faulty(&s, "volume_drop", 0.05, vec![day0], day);
        // The days after still had steps of the dropped consultations: all gone.
        assert!(clean.iter().any(&touches_dropped), "day {day}");
        let expected: Vec<Txn> = clean.into_iter().filter(|t| !touches_dropped(t)).collect();
        assert_eq!(expected, faulty, "day {day}");
    }
    // Consultations created after the fault day are all there.
    assert_eq!(
        ids(&s.day_events(1)),
        ids(&faulty(&s, "volume_drop", 0.05, vec![day0], 1))
    );
}

#[test]
fn faults_are_deterministic_and_only_on_their_days() {
    let s = sim();
    let every = FaultKind::ALL.map(FaultKind::name).join(",");
    let a = faulty(&s, &every, 0.1, vec![], 1);
    assert_eq!(a, faulty(&s, &every, 0.1, vec![], 1));
    assert_ne!(a, s.day_events(1));
    let later = s.params().date(5);
    assert_eq!(faulty(&s, &every, 0.1, vec![later], 1), s.day_events(1));
}

#[test]
fn a_started_day_keeps_its_recorded_faults() {
    let s = sim();
    let p = *s.params();
    let skew = Faults::parse("clock_skew", 0.5, vec![]).unwrap();
    // A call writing days 0..3 records them; the log reads back the same.
    let first = FaultSchedule::default().resolve(&p, 0, 3, &skew);
    let rows = first.rows_from(&p, 0);
    assert_eq!(rows.len(), 3);
    assert_eq!(
        (rows[1].day, rows[1].date, rows[1].kinds.as_str()),
        (1, p.date(1), "clock_skew")
    );
    assert_eq!(FaultSchedule::from_rows(rows).unwrap(), first);
    // Interrupted inside day 1, resumed without faults: day 1 keeps its faults, later days are clean.
    let resumed = first.clone().resolve(&p, 2, 4, &Faults::none());
    assert!(resumed.get(p.date(1)).is_some() && resumed.get(p.date(2)).is_none());
    assert!(resumed.rows_from(&p, 2).is_empty());
    let again: Vec<Txn> = resumed.day_txns(&s, 1).collect();
    assert_eq!(again, first.day_txns(&s, 1).collect::<Vec<_>>());
    assert_eq!(again, faulty(&s, "clock_skew", 0.5, vec![], 1));
}

#[test]
fn null_amounts_need_a_nullable_amount_column() {
    let nullable = medlake_schema::table("payment")
        .unwrap()
        .columns
        .iter()
        .any(|c| c.name == "payment_amount" && c.nullable);
    let null = Faults::parse("null_amounts", 0.1, vec![]).unwrap();
    assert_eq!(null.check_schema().is_ok(), nullable);
    let skew = Faults::parse("clock_skew", 0.1, vec![]).unwrap();
    assert!(skew.check_schema().is_ok());
}
