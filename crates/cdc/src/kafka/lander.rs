//! The lander (`medlake cdc land`): reads every table's topic from the offset its lake
//! table's Delta log holds and lands the changes in `ods_<table>_inc`, each commit carrying
//! the offset after its last message, so the rows and the consumer offset land together.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use medlake_lake::{AppTransaction, Lake};
use medlake_schema::Table;
use rskafka::record::Record;
use serde_json::Value as Json;

use super::client::{check_topic_template, fetch, offset_range, partition_of, topic_name, Client};
use crate::change::{lake_records, RowChange};
use crate::{CdcError, Result};

/// Bytes asked for by the lander's fetches.
const FETCH_BYTES: i32 = 8 * 1024 * 1024;

/// How the lander runs.
#[derive(Debug, Clone)]
pub struct LandOptions {
    /// The database whose topics are landed.
    pub database: String,
    /// The tables landed.
    pub tables: Vec<&'static Table>,
    /// Topic template (as the publishing capture used).
    pub topic: String,
    /// Changes after which a lake commit is made.
    pub batch_rows: usize,
    /// Longest time a change waits before its commit.
    pub flush_interval: Duration,
    /// Keep reading as topics grow (`false`: stop at the end they had at the start).
    pub follow: bool,
}

/// Figures of a lander, per topic and in all.
#[derive(Debug, Clone, Default)]
pub struct LandFigures {
    /// Row changes landed since the start.
    pub changes: u64,
    /// Lake commits made since the start.
    pub commits: u64,
    /// Messages behind the end of their topics, summed over topics.
    pub lag_messages: i64,
    /// Seconds between the last landed change's commit in the source and its landing.
    pub lag_seconds: i64,
}

/// What the lander reports as it goes.
pub trait LandProgress: Send + Sync {
    /// A commit of `changes` landed for `topic`; `figures` are the lander's totals.
    fn landed(&self, _topic: &str, _changes: &[RowChange], _figures: &LandFigures) {}
}

/// Progress that goes nowhere.
pub struct NoLandProgress;
impl LandProgress for NoLandProgress {}

/// The Delta `txn` writer id under which a topic's next offset is kept.
pub fn lander_app_id(topic: &str) -> String {
    format!("medlake-kafka:{topic}")
}

/// Lands every table's topic into its `ods_<table>_inc`, until the topics' ends (or, with
/// `follow`, until the future is dropped: dropping it at any point is safe).
pub async fn land(
    client: &Client,
    lake: &Lake,
    options: &LandOptions,
    progress: &dyn LandProgress,
) -> Result<LandFigures> {
    check_topic_template(&options.topic)?;
    let totals = std::sync::Mutex::new(Totals::default());
    let jobs = options
        .tables
        .iter()
        .map(|&table| land_table(client, lake, options, table, &totals, progress));
    futures::future::try_join_all(jobs).await?;
    let figures = totals.lock().map(|t| t.figures()).unwrap_or_default();
    Ok(figures)
}

/// The lander's totals, shared by its topics.
#[derive(Default)]
struct Totals {
    changes: u64,
    commits: u64,
    lag_seconds: i64,
    lag_by_topic: BTreeMap<String, i64>,
}

impl Totals {
    fn figures(&self) -> LandFigures {
        LandFigures {
            changes: self.changes,
            commits: self.commits,
            lag_messages: self.lag_by_topic.values().sum(),
            lag_seconds: self.lag_seconds,
        }
    }
}

/// What one topic's lander holds between commits.
struct TopicState {
    topic: String,
    /// Changes read but not yet landed.
    pending: Vec<RowChange>,
    /// The offset after the last message whose change is in `pending` (or landed).
    landed_to: i64,
    /// A bootstrap under way: its rows, landed together once complete.
    bootstrap: Option<Vec<RowChange>>,
    since: Option<Instant>,
}

async fn land_table(
    client: &Client,
    lake: &Lake,
    options: &LandOptions,
    table: &'static Table,
    totals: &std::sync::Mutex<Totals>,
    progress: &dyn LandProgress,
) -> Result<()> {
    let topic = topic_name(&options.topic, &options.database, table.name);
    let partition = loop {
        match partition_of(client, &topic, false).await {
            Ok(p) => break p,
            // A following lander may start before the capture that creates its topics.
            Err(_) if options.follow => tokio::time::sleep(Duration::from_secs(1)).await,
            Err(e) => return Err(e),
        }
    };
    let app_id = lander_app_id(&topic);
    let ods = table.ods_inc_name();
    medlake_changes::refuse_landed_secrets(lake, table, &ods).await?;
    let start = lake
        .app_transaction_version(&ods, &app_id)
        .await?
        .unwrap_or(0);
    let (_, end_at_start) = offset_range(&partition).await?;
    if start > end_at_start {
        return Err(CdcError::Kafka {
            what: format!("topic {topic}"),
            reason: format!(
                "{ods} has landed up to offset {start} but the topic ends at {end_at_start}: \
                 was the topic deleted and created again?"
            ),
        });
    }
    let mut state = TopicState {
        topic: topic.clone(),
        pending: Vec::new(),
        landed_to: start,
        bootstrap: None,
        since: None,
    };
    let mut next = start;
    loop {
        if !options.follow && next >= end_at_start {
            break;
        }
        let wait = if options.follow { 200 } else { 0 };
        // Whole fetch answers are taken in, so commits fall on record batch boundaries.
        let (records, high_watermark) = fetch(&partition, next, FETCH_BYTES, wait).await?;
        if records.is_empty() && next < high_watermark {
            return Err(CdcError::Kafka {
                what: format!("topic {topic}"),
                reason: format!(
                    "the broker returns nothing at offset {next} though the topic ends at \
                     {high_watermark}: was it written by another producer?"
                ),
            });
        }
        for r in records {
            next = r.offset + 1;
            if read_message(&mut state, &r.record, r.offset)? {
                commit(lake, table, &app_id, &mut state, totals, progress).await?;
            }
        }
        let due = state
            .since
            .is_some_and(|s| s.elapsed() >= options.flush_interval);
        let caught_up = next >= high_watermark;
        if state.pending.len() >= options.batch_rows || due || (caught_up && !options.follow) {
            commit(lake, table, &app_id, &mut state, totals, progress).await?;
        }
        if let Ok(mut t) = totals.lock() {
            t.lag_by_topic
                .insert(topic.clone(), (high_watermark - next).max(0));
        }
    }
    commit(lake, table, &app_id, &mut state, totals, progress).await
}

/// Takes in one message. Returns whether the pending changes must be committed before any
/// other message is taken in (a bootstrap starts at `landed_to`).
fn read_message(state: &mut TopicState, record: &Record, offset: i64) -> Result<bool> {
    let bad = |reason: String| CdcError::Message {
        topic: state.topic.clone(),
        offset,
        reason,
    };
    let value = record
        .value
        .as_deref()
        .ok_or_else(|| bad("no value".into()))?;
    let json: Json = serde_json::from_slice(value)
        .map_err(|e| bad(format!("not JSON ({})", json_error_kind(&e))))?;
    let kind = json.get("type").and_then(Json::as_str).unwrap_or_default();
    match kind {
        "bootstrap-start" => {
            // Anything before a (re)started bootstrap is landed first; an unfinished
            // earlier bootstrap is dropped, as the capture that wrote it started again.
            state.bootstrap = Some(Vec::new());
            state.landed_to = offset;
            return Ok(!state.pending.is_empty());
        }
        "bootstrap-complete" => {
            if let Some(rows) = state.bootstrap.take() {
                state.pending.extend(rows);
            }
            state.landed_to = offset + 1;
            state.since.get_or_insert_with(Instant::now);
            return Ok(false);
        }
        _ => {}
    }
    // Read again from the text, not the value: money keeps its exact digits.
    let text = std::str::from_utf8(value).map_err(|_| bad("not UTF-8".into()))?;
    let change = RowChange::from_maxwell_text(text).map_err(bad)?;
    match &mut state.bootstrap {
        Some(rows) => rows.push(change),
        None => {
            state.pending.push(change);
            state.landed_to = offset + 1;
            state.since.get_or_insert_with(Instant::now);
        }
    }
    Ok(false)
}

/// What kind of JSON error, without the text around it (which could hold PHI).
fn json_error_kind(e: &serde_json::Error) -> &'static str {
    match e.classify() {
        serde_json::error::Category::Io => "read error",
        serde_json::error::Category::Syntax => "syntax error",
        serde_json::error::Category::Data => "wrong shape",
        serde_json::error::Category::Eof => "cut short",
    }
}

/// Lands the pending changes in one commit, marked with `landed_to` (the next offset to
/// read).
async fn commit(
    lake: &Lake,
    table: &'static Table,
    app_id: &str,
    state: &mut TopicState,
    totals: &std::sync::Mutex<Totals>,
    progress: &dyn LandProgress,
) -> Result<()> {
    if state.pending.is_empty() {
        return Ok(());
    }
    let changes = std::mem::take(&mut state.pending);
    let refs: Vec<&RowChange> = changes.iter().collect();
    let batch = lake_records(table, &refs)?;
    let marker = AppTransaction {
        app_id: app_id.to_string(),
        version: state.landed_to,
    };
    lake.append(&table.ods_inc_name(), vec![batch], Some(marker))
        .await?;
    state.since = None;
    let last_ts = changes.iter().map(|c| c.ts).max().unwrap_or(0);
    let snapshot = match totals.lock() {
        Ok(mut t) => {
            t.changes += changes.len() as u64;
            t.commits += 1;
            t.lag_seconds = chrono::Utc::now().timestamp() - last_ts;
            t.figures()
        }
        Err(_) => LandFigures::default(),
    };
    progress.landed(&state.topic, &changes, &snapshot);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::change::bootstrap_marker;
    use crate::kafka::sink::record;
    use serde_json::json;

    fn state() -> TopicState {
        TopicState {
            topic: "t".into(),
            pending: Vec::new(),
            landed_to: 0,
            bootstrap: None,
            since: None,
        }
    }

    fn message(kind: &str, id: i64) -> Record {
        let table = medlake_schema::table("dict").unwrap();
        let value = if kind.starts_with("bootstrap-") && kind != "bootstrap-insert" {
            bootstrap_marker(kind, "medical", "dict", 0)
        } else {
            let mut data = serde_json::Map::new();
            for c in table.captured_columns() {
                data.insert(c.name.into(), Json::Null);
            }
            data.insert("id".into(), json!(id));
            json!({"database": "medical", "table": "dict", "type": kind, "ts": 0, "data": data})
        };
        record(None, value.to_string(), 1, 0)
    }

    #[test]
    fn a_restarted_bootstrap_replaces_the_unfinished_one() {
        let mut s = state();
        let stream = [
            ("insert", 1),
            ("bootstrap-start", 0),
            ("bootstrap-insert", 2),
            ("bootstrap-start", 0),
            ("bootstrap-insert", 2),
            ("bootstrap-insert", 3),
            ("bootstrap-complete", 0),
        ];
        let mut flushes = Vec::new();
        for (offset, (kind, id)) in stream.iter().enumerate() {
            if read_message(&mut s, &message(kind, *id), offset as i64).unwrap() {
                flushes.push((s.landed_to, s.pending.len()));
                s.pending.clear();
            }
        }
        // The insert before the first bootstrap is landed on its own, up to offset 1.
        assert_eq!(flushes, vec![(1, 1)]);
        let ids: Vec<_> = s.pending.iter().map(|c| c.id()).collect();
        assert_eq!(ids, vec![Some(2), Some(3)]);
        assert_eq!(s.landed_to, 7);
    }

    #[test]
    fn an_unfinished_bootstrap_lands_nothing() {
        let mut s = state();
        for (offset, (kind, id)) in [("bootstrap-start", 0), ("bootstrap-insert", 2)]
            .iter()
            .enumerate()
        {
            read_message(&mut s, &message(kind, *id), offset as i64).unwrap();
        }
        assert!(s.pending.is_empty());
        assert_eq!(s.landed_to, 0);
    }
}
