//! The driver: load the initial population if needed, then append days, recording
//! progress so that a later call continues with the next day.

use crate::error::{Result, SimError};
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

/// Simulates `days` more days into `writer`'s database.
///
/// A new database gets the schema, the progress row and the initial population first.
/// An existing one continues after its last simulated day and must have been created
/// with the same `params` (otherwise [`SimError::ParamsMismatch`]). `days = 0` only
/// makes sure the initial population is loaded. Returns the final progress.
pub async fn simulate(
    writer: &mut BusinessWriter,
    params: &SimParams,
    days: u32,
    mut on_progress: impl FnMut(Progress<'_>),
) -> Result<SimState> {
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
        let total = sim.population_txn_count();
        run_unit(
            writer,
            &mut state,
            Unit::Population,
            sim.initial_population(),
            total,
            &mut on_progress,
        )
        .await?;
    }
    let last = state
        .days_done
        .checked_add(days)
        .ok_or_else(|| SimError::InvalidParams("too many days".into()))?;
    while state.days_done < last {
        let day = state.days_done;
        let txns = sim.day_txns(day);
        let total = txns.len() as u64;
        let unit = Unit::Day {
            index: day,
            date: params.date(day),
        };
        run_unit(writer, &mut state, unit, txns, total, &mut on_progress).await?;
    }
    Ok(state)
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
    on_progress(Progress::UnitDone(&stats));
    Ok(())
}
