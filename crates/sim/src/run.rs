//! The driver: load the initial population if needed, then append days, recording
//! progress so that a later call continues with the next day.

use crate::error::{Result, SimError};
use crate::faults::{FaultSchedule, Faults};
use crate::model::{TableCounts, Txn, Unit, UnitStats};
use crate::params::SimParams;
use crate::sim::Simulator;
use crate::writer::{BusinessWriter, SimState};

/// What [`simulate`] reports while it works.
#[derive(Debug)]
pub enum Progress<'a> {
    /// Some transactions of a unit were committed.
    Txns {
        /// The unit being written.
        unit: Unit,
        /// Transactions of the unit committed so far (including any from an interrupted run).
        done: u64,
        /// Transactions of the unit in total.
        total: u64,
    },
    /// A unit is complete.
    UnitDone(&'a UnitStats),
}

/// Simulates `days` more days into `writer`'s database, injecting `faults` into the days
/// this call writes (all of them when `faults.days` is empty, else those among
/// `faults.days`; [`Faults::none`] for a clean simulation).
///
/// A new database gets the schema, the progress row and the initial population first.
/// An existing one continues after its last simulated day and must have been created
/// with the same `params` (otherwise [`SimError::ParamsMismatch`]). `days = 0` only
/// makes sure the initial population is loaded. Returns the final progress.
///
/// Before the first day, the faults of every day this call will write are recorded in
/// [`crate::FAULTS_TABLE`] (replacing what an interrupted call recorded for days it did
/// not start). A day an interrupted call already started keeps the faults recorded for it,
/// whatever `faults` says, so that the resumed day regenerates exactly the transactions
/// already committed and skips them; and the consultations `volume_drop` removed on a
/// recorded day stay removed on the days after it, in this call or a later one (even a
/// clean one). Fails before writing anything when the schema cannot hold a fault's rows
/// ([`Faults::check_schema`]).
pub async fn simulate(
    writer: &mut BusinessWriter,
    params: &SimParams,
    days: u32,
    faults: &Faults,
    mut on_progress: impl FnMut(Progress<'_>),
) -> Result<SimState> {
    faults.check_schema()?;
    let sim = Simulator::new(*params)?;
    writer.ensure_schema().await?;
    let mut state = match writer.state().await? {
        Some(stored) if stored.params != *params => {
            return Err(SimError::ParamsMismatch {
                stored: stored.params.to_string(),
                requested: params.to_string(),
            });
        }
        Some(stored) => stored,
        None => {
            let fresh = SimState::new(*params);
            writer.write_state(&fresh).await?;
            fresh
        }
    };
    if !state.population_loaded {
        let population = sim.initial_population();
        let total = population.len() as u64;
        run_unit(
            writer,
            &mut state,
            Unit::Population,
            population,
            total,
            &mut on_progress,
        )
        .await?;
    }
    let last = state
        .days_done
        .checked_add(days)
        .ok_or_else(|| SimError::InvalidParams("too many days".into()))?;
    let schedule = record_faults(writer, params, &state, last, faults).await?;
    while state.days_done < last {
        let day = state.days_done;
        let txns = schedule.day_txns(&sim, day);
        let total = txns.len() as u64;
        let unit = Unit::Day {
            index: day,
            date: params.date(day),
        };
        run_unit(writer, &mut state, unit, txns, total, &mut on_progress).await?;
    }
    Ok(state)
}

/// Records the faults of the days `state.days_done..last` and returns the schedule of
/// every day: the stored one up to the last started day, `faults` after it. A day counts
/// as started when some of its transactions are committed (`txns_done > 0`; the
/// population is loaded by now, so these are the next day's).
async fn record_faults(
    writer: &mut BusinessWriter,
    params: &SimParams,
    state: &SimState,
    last: u32,
    faults: &Faults,
) -> Result<FaultSchedule> {
    let stored = FaultSchedule::from_rows(writer.fault_rows().await?)?;
    let from = state.days_done + u32::from(state.txns_done > 0);
    let schedule = stored.clone().resolve(params, from, last, faults);
    let rows = schedule.rows_from(params, from);
    if rows != stored.rows_from(params, from) {
        writer.record_faults(from, &rows).await?;
    }
    Ok(schedule)
}

/// Writes one unit's transactions in batches, skipping those an interrupted run
/// already committed, then marks the unit done.
async fn run_unit(
    writer: &mut BusinessWriter,
    state: &mut SimState,
    unit: Unit,
    txns: impl Iterator<Item = Txn>,
    total: u64,
    on_progress: &mut impl FnMut(Progress<'_>),
) -> Result<()> {
    let batch_size = writer.batch_size();
    if state.txns_done > 0 {
        writer.tolerate_replay(batch_size as u64);
    }
    let mut stats = UnitStats {
        unit,
        txns: 0,
        tables: TableCounts::default(),
    };
    let mut batch = Vec::with_capacity(batch_size);
    let mut txns = txns.skip(state.txns_done as usize).peekable();
    while txns.peek().is_some() {
        batch.clear();
        batch.extend(txns.by_ref().take(batch_size));
        writer.apply(&batch, state).await?;
        state.txns_done += batch.len() as u64;
        stats.txns += batch.len() as u64;
        batch.iter().for_each(|t| stats.tables.add_txn(t));
        on_progress(Progress::Txns {
            unit,
            done: state.txns_done,
            total,
        });
    }
    match unit {
        Unit::Population => state.population_loaded = true,
        Unit::Day { .. } => state.days_done += 1,
    }
    state.txns_done = 0;
    writer.write_state(state).await?;
    tracing::debug!(unit = ?unit, txns = stats.txns, rows = stats.tables.rows(), "simulated unit written");
    on_progress(Progress::UnitDone(&stats));
    Ok(())
}

#[cfg(test)]
mod tests {

    /// A scratch database on the test MariaDB (MEDLAKE_TEST_MYSQL_URL, set by
    /// scripts/test.sh). A missing setting fails the test: it must not pass without MariaDB.
    fn crate_test_mysql_url(purpose: &str) -> String {
        let server = std::env::var("MEDLAKE_TEST_MYSQL_URL").expect(
            "MEDLAKE_TEST_MYSQL_URL is not set: run the tests through scripts/test.sh, which starts MariaDB",
        );
        format!(
            "{}/medlake_sim_{purpose}_{}",
            server.trim_end_matches('/'),
            std::process::id()
        )
    }

    use super::*;
    use crate::target::Target;
    use chrono::NaiveDate;

    fn dump(path: &std::path::Path) -> Vec<String> {
        let conn = rusqlite::Connection::open(path).unwrap();
        let mut out = Vec::new();
        for t in medlake_schema::business_tables() {
            let mut stmt = conn
                .prepare(&format!("SELECT * FROM \"{}\" ORDER BY id", t.name))
                .unwrap();
            let n = stmt.column_count();
            let rows = stmt
                .query_map([], |r| {
                    Ok((0..n)
                        .map(|i| format!("{:?}", r.get_ref(i).unwrap()))
                        .collect::<Vec<_>>()
                        .join("|"))
                })
                .unwrap();
            out.extend(rows.map(Result::unwrap));
        }
        out
    }

    /// A run interrupted inside a day (some batches committed) resumes after them.
    #[tokio::test]
    async fn an_interrupted_day_resumes_where_it_stopped() {
        let dir = tempfile::tempdir().unwrap();
        let params = SimParams {
            seed: 8,
            scale: 0.003,
            start: NaiveDate::from_ymd_opt(2026, 5, 1).unwrap(),
        };
        let (clean, resumed) = (dir.path().join("clean.db"), dir.path().join("resumed.db"));
        let mut w = BusinessWriter::open(&Target::Sqlite(clean.clone()))
            .await
            .unwrap();
        simulate(&mut w, &params, 2, &Faults::none(), |_| {})
            .await
            .unwrap();

        let mut w = BusinessWriter::open(&Target::Sqlite(resumed.clone()))
            .await
            .unwrap();
        let state = simulate(&mut w, &params, 0, &Faults::none(), |_| {})
            .await
            .unwrap();
        let day0: Vec<Txn> = Simulator::new(params).unwrap().day_events(0);
        w.apply(&day0[..100], &state).await.unwrap();
        let stored = w.state().await.unwrap().unwrap();
        assert_eq!((stored.days_done, stored.txns_done), (0, 100));
        let mut seen = Vec::new();
        let end = simulate(&mut w, &params, 2, &Faults::none(), |p| {
            if let Progress::Txns { done, total, .. } = p {
                seen.push((done, total));
            }
        })
        .await
        .unwrap();
        assert_eq!((end.days_done, end.txns_done), (2, 0));
        assert_eq!(seen[0], (day0.len() as u64, day0.len() as u64));
        assert_eq!(dump(&clean), dump(&resumed));
    }

    /// A day interrupted with faults is finished with the faults recorded for it, even when
    /// the resumed call asks for none, and `volume_drop`'s removals carry into the next day.
    #[tokio::test]
    async fn an_interrupted_faulty_day_resumes_with_its_faults() {
        let dir = tempfile::tempdir().unwrap();
        let params = SimParams {
            seed: 8,
            scale: 0.003,
            start: NaiveDate::from_ymd_opt(2026, 5, 1).unwrap(),
        };
        let kinds = "volume_drop,duplicate_payments,clock_skew";
        let faults = Faults::parse(kinds, 0.2, vec![params.start]).unwrap();
        let (whole, resumed) = (dir.path().join("whole.db"), dir.path().join("resumed.db"));
        let mut w = BusinessWriter::open(&Target::Sqlite(whole.clone()))
            .await
            .unwrap();
        simulate(&mut w, &params, 2, &faults, |_| {}).await.unwrap();
        let schedule = w.fault_schedule().await.unwrap();
        let days: Vec<NaiveDate> = schedule.iter().map(|(d, _)| d).collect();
        assert_eq!(days, [params.start]);

        // An interrupted call recorded day 0's faults and committed part of the day.
        let mut w = BusinessWriter::open(&Target::Sqlite(resumed.clone()))
            .await
            .unwrap();
        let state = simulate(&mut w, &params, 0, &Faults::none(), |_| {})
            .await
            .unwrap();
        let sim = Simulator::new(params).unwrap();
        let day0: Vec<Txn> = schedule.day_txns(&sim, 0).collect();
        w.record_faults(0, &schedule.rows_from(&params, 0))
            .await
            .unwrap();
        w.apply(&day0[..100], &state).await.unwrap();
        let end = simulate(&mut w, &params, 2, &Faults::none(), |_| {})
            .await
            .unwrap();
        assert_eq!((end.days_done, end.txns_done), (2, 0));
        assert_eq!(w.fault_schedule().await.unwrap(), schedule);
        assert_eq!(dump(&whole), dump(&resumed));
    }

    /// On MySQL, transactions committed after the last recorded progress (a crash inside
    /// a round trip) are re-applied harmlessly. Runs on the test MariaDB.
    #[tokio::test]
    async fn mysql_replays_unrecorded_transactions() {
        let url = crate_test_mysql_url("replay");
        let params = SimParams {
            seed: 9,
            scale: 0.002,
            start: NaiveDate::from_ymd_opt(2026, 5, 1).unwrap(),
        };
        let target = Target::parse(&url).unwrap();
        let mut w = BusinessWriter::open(&target).await.unwrap();
        let state = simulate(&mut w, &params, 0, &Faults::none(), |_| {})
            .await
            .unwrap();
        let day0 = Simulator::new(params).unwrap().day_events(0);
        w.apply(&day0[..300], &state).await.unwrap();
        // Progress says 120: transactions 120..300 are in the database but not recorded.
        w.write_state(&SimState {
            txns_done: 120,
            ..state
        })
        .await
        .unwrap();
        let end = simulate(&mut w, &params, 1, &Faults::none(), |_| {}).await;
        let db = mysql_async::Opts::from_url(&url)
            .unwrap()
            .db_name()
            .unwrap()
            .to_string();
        w.drop_mysql_database(&db).await.unwrap();
        assert_eq!(end.unwrap().days_done, 1);
    }
}
