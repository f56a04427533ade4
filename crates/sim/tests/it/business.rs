//! Business realism and invariants of the generated transactions: the consultation
//! status machine, payments, prescription totals, personal-data formats, day bounds.

use std::collections::{BTreeMap, BTreeSet};

use crate::common::params;
use chrono::{Datelike, NaiveDateTime, Timelike};
use medlake_schema::{ColumnType, Value};
use medlake_sim::{is_valid_id_card, is_valid_mobile, Change, Simulator, Txn};

const DAYS: u32 = 8;

fn int(v: &Value) -> i64 {
    match v {
        Value::Int(x) | Value::Money(x) => *x,
        other => panic!("not an int: {other:?}"),
    }
}

fn text(v: &Value) -> &str {
    match v {
        Value::Text(s) => s,
        other => panic!("not text: {other:?}"),
    }
}

fn col(change: &Change, name: &str) -> Option<Value> {
    match change {
        Change::Insert { table, row } => table.column_index(name).map(|i| row[i].clone()),
        Change::Update { set, .. } => set.iter().find(|(c, _)| *c == name).map(|(_, v)| v.clone()),
    }
}

/// The days' transactions of a small world.
fn world() -> (Simulator, Vec<Txn>, Vec<Vec<Txn>>) {
    let sim = Simulator::new(params(5, 0.01)).unwrap();
    let population = sim.initial_population();
    let announced = population.len();
    let population: Vec<Txn> = population.collect();
    assert_eq!(population.len(), announced, "len() counts the population");
    let days = (0..DAYS).map(|d| sim.day_events(d)).collect();
    (sim, population, days)
}

#[test]
fn rows_match_the_schema_and_stay_inside_their_day() {
    let (sim, population, days) = world();
    let start = sim.params().start.and_hms_opt(0, 0, 0).unwrap();
    for txn in &population {
        assert!(
            txn.time < start,
            "initial population is created before the start"
        );
    }
    let mut micros = 0;
    for (d, txns) in days.iter().enumerate() {
        let from = start + chrono::Days::new(d as u64);
        let to = from + chrono::Days::new(1);
        assert!(
            txns.windows(2).all(|w| w[0].time <= w[1].time),
            "time order"
        );
        for txn in txns {
            assert!(from <= txn.time && txn.time < to, "day {d}: {}", txn.time);
            micros += usize::from(txn.time.nanosecond() % 1_000_000 != 0);
            for change in &txn.changes {
                assert_eq!(col(change, "update_time"), Some(Value::DateTime(txn.time)));
                if let Change::Insert { .. } = change {
                    assert_eq!(col(change, "create_time"), Some(Value::DateTime(txn.time)));
                }
            }
        }
    }
    assert!(micros > 100, "timestamps carry microseconds");
    for change in population
        .iter()
        .chain(days.iter().flatten())
        .flat_map(|t| &t.changes)
    {
        if let Change::Insert { table, row } = change {
            assert_eq!(row.len(), table.columns.len(), "{}", table.name);
            for (c, v) in table.columns.iter().zip(row) {
                let ok = match (c.ty, v) {
                    (_, Value::Null) => c.nullable,
                    (ColumnType::BigInt | ColumnType::Int, Value::Int(_)) => true,
                    (ColumnType::Money, Value::Money(_)) => true,
                    (ColumnType::Varchar(n), Value::Text(s)) => s.chars().count() <= usize::from(n),
                    (ColumnType::Text, Value::Text(_)) => true,
                    (ColumnType::DateTime, Value::DateTime(_)) => true,
                    (ColumnType::Date, Value::Date(_)) => true,
                    (ColumnType::Bool, Value::Bool(_)) => true,
                    _ => false,
                };
                assert!(ok, "{}.{} = {v:?}", table.name, c.name);
            }
        }
    }
}

/// Valid next statuses of a consultation.
fn allowed(from: i64, to: i64) -> bool {
    matches!(
        (from, to),
        (201, 202) | (202, 203) | (203, 204) | (204, 205) | (205, 206) | (205, 207) | (206, 207)
    )
}

#[test]
fn consultations_follow_the_status_machine_and_the_funnel_has_every_path() {
    let (_, population, days) = world();
    let mut paths: BTreeMap<i64, Vec<i64>> = BTreeMap::new();
    let mut rx_payment_final: BTreeMap<i64, i64> = BTreeMap::new();
    for txn in population.iter().chain(days.iter().flatten()) {
        for change in &txn.changes {
            match change {
                Change::Insert { table, row } if table.name == "consultation" => {
                    assert_eq!(col(change, "status"), Some(Value::Int(201)));
                    assert_eq!(col(change, "description"), Some(Value::Null));
                    assert!(paths.insert(int(&row[0]), vec![201]).is_none());
                }
                Change::Update { table, id, .. } if table.name == "consultation" => {
                    let status =
                        int(&col(change, "status").expect("every consultation update sets status"));
                    let path = paths.get_mut(id).expect("update after insert");
                    assert!(
                        allowed(*path.last().unwrap(), status),
                        "{path:?} -> {status}"
                    );
                    path.push(status);
                }
                Change::Insert { table, row }
                    if table.name == "payment" && row[3] != Value::Null =>
                {
                    rx_payment_final.insert(int(&row[0]), 202);
                }
                Change::Update { table, id, .. }
                    if table.name == "payment" && rx_payment_final.contains_key(id) =>
                {
                    rx_payment_final.insert(*id, 203);
                }
                _ => {}
            }
        }
    }
    // Consultations of the first (warm-up) days have finished their life by the last day.
    let done: Vec<&Vec<i64>> = paths
        .iter()
        .filter(|(id, _)| **id <= 2000)
        .map(|(_, p)| p)
        .collect();
    let finals: BTreeSet<i64> = done.iter().map(|p| *p.last().unwrap()).collect();
    assert_eq!(finals, (201..=207).collect(), "every end state occurs");
    assert!(
        done.iter().any(|p| p.ends_with(&[205, 207])),
        "reviewed without prescription"
    );
    assert!(
        done.iter().any(|p| p.ends_with(&[206, 207])),
        "reviewed with prescription"
    );
    let paid_rx: BTreeSet<i64> = rx_payment_final.values().copied().collect();
    assert_eq!(
        paid_rx,
        BTreeSet::from([202, 203]),
        "prescriptions paid and unpaid"
    );
    let paid = done.iter().filter(|p| p.contains(&203)).count() as f64 / done.len() as f64;
    assert!((0.70..0.85).contains(&paid), "pay conversion {paid}");
}

#[test]
fn payments_move_with_their_consultation_and_totals_add_up() {
    let (_, population, days) = world();
    let mut price: BTreeMap<i64, i64> = BTreeMap::new();
    for change in population.iter().flat_map(|t| &t.changes) {
        if let Change::Insert { table, row } = change {
            if table.name == "medicine" {
                price.insert(int(&row[0]), int(&col(change, "price").unwrap()));
            }
        }
    }
    assert_eq!(price.len(), 1000);
    let mut fee_payments: BTreeMap<i64, i64> = BTreeMap::new(); // payment id -> consultation id
    let mut checked_paid = 0;
    let mut checked_rx = 0;
    for txn in days.iter().flatten() {
        let mut lines_total = 0;
        let mut rx_total = None;
        for change in &txn.changes {
            match change {
                Change::Insert { table, row } if table.name == "payment" => {
                    if let Value::Int(c) = row[2] {
                        fee_payments.insert(int(&row[0]), c);
                    }
                    if row[3] != Value::Null {
                        assert_eq!(Some(int(&row[4])), rx_total, "prescription payment = total");
                    }
                }
                Change::Insert { table, row } if table.name == "prescription" => {
                    rx_total = Some(int(&row[4]))
                }
                Change::Insert { table, row } if table.name == "prescription_detail" => {
                    lines_total += int(&row[3]) * price[&int(&row[2])];
                }
                Change::Update { table, id, .. } if table.name == "payment" => {
                    if let Some(consultation) = fee_payments.get(id) {
                        // The consultation reaches 203 in the same transaction.
                        let same = txn.changes.iter().any(|c| {
                            matches!(c, Change::Update { table, id, .. } if table.name == "consultation" && id == consultation)
                                && col(c, "status") == Some(Value::Int(203))
                        });
                        assert!(same, "fee payment paid together with its consultation");
                        checked_paid += 1;
                    }
                }
                _ => {}
            }
        }
        if let Some(total) = rx_total {
            assert_eq!(
                total, lines_total,
                "prescription total = sum(count * price)"
            );
            checked_rx += 1;
        }
    }
    assert!(
        checked_paid > 1000 && checked_rx > 500,
        "{checked_paid} {checked_rx}"
    );
}

#[test]
fn personal_data_is_well_formed_and_master_data_changes() {
    let (_, population, days) = world();
    let mut ids = 0;
    let mut updated = BTreeMap::<&str, usize>::new();
    for change in population
        .iter()
        .chain(days.iter().flatten())
        .flat_map(|t| &t.changes)
    {
        let table = change.table().name;
        if let Some(v) = col(change, "telephone") {
            assert!(is_valid_mobile(text(&v)));
        }
        if let Some(v) = col(change, "id_card_no") {
            let id = text(&v);
            assert!(is_valid_id_card(id), "check digit");
            if let Some(Value::Date(b)) = col(change, "birthday") {
                assert_eq!(&id[6..14], b.format("%Y%m%d").to_string());
                let male = col(change, "gender") == Some(Value::Int(101));
                assert_eq!((id.as_bytes()[16] - b'0') % 2 == 1, male);
            }
            ids += 1;
        }
        if let Change::Update { .. } = change {
            if ["doctor", "user", "patient"].contains(&table) {
                *updated.entry(table).or_default() += 1;
            }
        }
    }
    assert!(ids > 4500);
    assert_eq!(
        updated.len(),
        3,
        "doctors, users and patients all change: {updated:?}"
    );
}

#[test]
fn shapes_look_like_the_business() {
    let (_, population, days) = world();
    let mut by_hour = [0u32; 24];
    let mut ratings = [0u32; 6];
    let mut per_doctor: BTreeMap<i64, u32> = BTreeMap::new();
    let mut per_day = Vec::new();
    // Numbering goes on from the consultations of the warm-up days.
    let mut last_id = consultation_ids(&population)
        .max()
        .expect("the warm-up days place consultations");
    for txns in &days {
        let mut n = 0;
        for txn in txns {
            for change in &txn.changes {
                match change {
                    Change::Insert { table, row } if table.name == "consultation" => {
                        by_hour[txn.time.hour() as usize] += 1;
                        *per_doctor.entry(int(&row[3])).or_default() += 1;
                        assert_eq!(int(&row[0]), last_id + 1, "ids in creation order");
                        last_id = int(&row[0]);
                        n += 1;
                    }
                    Change::Update { table, .. } if table.name == "consultation" => {
                        if let Some(Value::Int(r)) = col(change, "rating") {
                            ratings[r as usize] += 1;
                        }
                    }
                    _ => {}
                }
            }
        }
        per_day.push((txns[0].time.date().weekday(), n));
    }
    let peak = (0..24).max_by_key(|&h| by_hour[h]).unwrap();
    assert!((19..=22).contains(&peak), "evening peak: {by_hour:?}");
    assert!(by_hour[4] * 5 < by_hour[21], "quiet nights: {by_hour:?}");
    let total: u32 = ratings.iter().sum();
    assert!(ratings[5] * 2 > total, "ratings skew to 5: {ratings:?}");
    let mut counts: Vec<u32> = per_doctor.values().copied().collect();
    counts.sort_unstable_by(|a, b| b.cmp(a));
    let top10: u32 = counts.iter().take(counts.len() / 10).sum();
    let all: u32 = counts.iter().sum();
    assert!(
        f64::from(top10) > 0.3 * f64::from(all),
        "skewed doctor popularity"
    );
    assert!(
        per_day.iter().all(|(_, n)| (900..1150).contains(n)),
        "{per_day:?}"
    );
}

/// Ids of the consultations `txns` place.
fn consultation_ids(txns: &[Txn]) -> impl Iterator<Item = i64> + '_ {
    txns.iter()
        .flat_map(|t| &t.changes)
        .filter_map(|change| match change {
            Change::Insert { table, row } if table.name == "consultation" => Some(int(&row[0])),
            _ => None,
        })
}

/// Reviews written per day: consultation updates to status 207.
fn reviews_per_day(days: &[Vec<Txn>]) -> Vec<usize> {
    days.iter()
        .map(|txns| {
            txns.iter()
                .flat_map(|t| &t.changes)
                .filter(|c| {
                    matches!(c, Change::Update { table, .. } if table.name == "consultation")
                        && col(c, "status") == Some(Value::Int(207))
                })
                .count()
        })
        .collect()
}

#[test]
fn the_start_date_begins_with_consultations_in_flight() {
    let (sim, population, days) = world();
    let start = sim.params().start.and_hms_opt(0, 0, 0).unwrap();
    let before: BTreeSet<i64> = consultation_ids(&population).collect();
    assert!(
        before.len() > 1500,
        "two warm-up days of consultations: {}",
        before.len()
    );
    let placed_before = population
        .iter()
        .filter(|t| {
            t.changes
                .iter()
                .any(|c| matches!(c, Change::Insert { table, .. } if table.name == "consultation"))
        })
        .all(|t| t.time < start);
    assert!(
        placed_before,
        "warm-up consultations are placed before the start"
    );
    let moved_on_day_0 = days[0]
        .iter()
        .flat_map(|t| &t.changes)
        .filter(|c| matches!(c, Change::Update { table, id, .. } if table.name == "consultation" && before.contains(id)))
        .count();
    assert!(moved_on_day_0 > 300, "{moved_on_day_0}");
    // The first day reviews about as much as later days do: a running business, not a launch.
    let reviews = reviews_per_day(&days);
    let later = reviews[1..].iter().sum::<usize>() as f64 / (reviews.len() - 1) as f64;
    assert!(
        reviews[0] as f64 > 0.85 * later,
        "reviews per day {reviews:?}"
    );
}

#[test]
fn late_consultations_finish_on_later_days() {
    let (_, population, days) = world();
    let mut created: BTreeMap<i64, NaiveDateTime> = BTreeMap::new();
    let mut crossed = 0;
    for txn in population.iter().chain(days.iter().flatten()) {
        for change in &txn.changes {
            match change {
                Change::Insert { table, row } if table.name == "consultation" => {
                    created.insert(int(&row[0]), txn.time);
                }
                Change::Update { table, id, .. } if table.name == "consultation" => {
                    crossed += usize::from(created[id].date() < txn.time.date());
                }
                _ => {}
            }
        }
    }
    assert!(crossed > 500, "{crossed}");
}
