//! Kafka: captured changes published as Maxwell publishes them, and a lander that writes
//! them into the lake's `ods_<table>_inc` tables, both exactly once.
//!
//! **Publishing** ([`KafkaSink`]): one topic per table (named by a template such as
//! `%{database}.%{table}`), one partition, so a table's changes keep their binlog order.
//! Every message is Maxwell's JSON keyed by Maxwell's key, and carries the binlog version
//! of its transaction in the header [`VERSION_HEADER`]. A flush is produced in record
//! batches that end on transaction boundaries, and the broker stores a batch whole, so the
//! last message of a topic tells how far the topic holds the table: that is the sink's
//! [`table_version`](ChangeSink::table_version). A bootstrap runs between a
//! `bootstrap-start` and a `bootstrap-complete` message; a topic that ends inside one is
//! bootstrapped again.
//!
//! **Landing** ([`land`]): each topic is read from the offset stored in its lake table's
//! Delta log, as the `txn` marker `medlake-kafka:<topic>`, and every lake commit carries
//! the offset after its last message. The consumer offset and the rows land in the same
//! commit, so a crash anywhere loses and doubles nothing. A bootstrap lands in one commit
//! once its `bootstrap-complete` arrived; a restarted bootstrap replaces an unfinished one.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use medlake_lake::{AppTransaction, Lake};
use medlake_schema::Table;
use rskafka::client::error::{Error as KafkaError, ProtocolError};
use rskafka::client::partition::{Compression, OffsetAt, PartitionClient, UnknownTopicHandling};
/// The Kafka client [`connect`] returns (rskafka's).
pub use rskafka::client::Client;
use rskafka::client::ClientBuilder;
use rskafka::record::{Record, RecordAndOffset};
use serde_json::Value as Json;
use tracing::info;

use crate::change::{bootstrap_marker, is_bootstrap, lake_records, RowChange};
use crate::sink::ChangeSink;
use crate::{CdcError, Result};

/// The message header holding the binlog version (see
/// [`BinlogPosition::version`](crate::BinlogPosition::version)) of the message's
/// transaction, or of the snapshot for bootstrap messages.
pub const VERSION_HEADER: &str = "medlake.version";

/// The default topic template: one topic per table, as `medical.consultation`.
pub const DEFAULT_TOPIC: &str = "%{database}.%{table}";

/// Largest record batch produced at once (the broker's usual limit is 1 MiB).
const MAX_BATCH_BYTES: usize = 768 * 1024;

/// Bytes asked for by the lander's fetches.
const FETCH_BYTES: i32 = 8 * 1024 * 1024;

/// Bytes asked for by fetches that only probe where batches are.
const PROBE_BYTES: i32 = 64 * 1024;

/// How long a broker that does not answer is retried before capture gives up.
const BROKER_DEADLINE: Duration = Duration::from_secs(30);

/// Connects to the brokers (`host:port`, comma-separated), failing with a clear error
/// within [`BROKER_DEADLINE`] when none answers.
pub async fn connect(brokers: &str) -> Result<Arc<Client>> {
    let list: Vec<String> = brokers
        .split(',')
        .map(str::trim)
        .filter(|b| !b.is_empty())
        .map(String::from)
        .collect();
    if list.is_empty() {
        return Err(CdcError::Kafka {
            what: "brokers".into(),
            reason: "no broker address given (host:port, comma-separated)".into(),
        });
    }
    let backoff = rskafka::BackoffConfig {
        deadline: Some(BROKER_DEADLINE),
        max_backoff: Duration::from_secs(2),
        ..Default::default()
    };
    let client = ClientBuilder::new(list)
        .client_id("medlake")
        .backoff_config(backoff)
        .build()
        .await
        .map_err(|e| kafka_error(brokers, e))?;
    Ok(Arc::new(client))
}

/// The topic of `table` under `template` (`%{database}` and `%{table}` replaced).
pub fn topic_name(template: &str, database: &str, table: &str) -> String {
    template
        .replace("%{database}", database)
        .replace("%{table}", table)
}

/// Checks that a topic template gives every table its own topic.
pub fn check_topic_template(template: &str) -> Result<()> {
    if template.contains("%{table}") {
        Ok(())
    } else {
        Err(CdcError::Kafka {
            what: format!("topic template '{template}'"),
            reason: "must contain %{table}: each table has its own topic, whose last message \
                     tells how far the table was published"
                .into(),
        })
    }
}

fn kafka_error(what: &str, e: KafkaError) -> CdcError {
    CdcError::Kafka {
        what: what.to_string(),
        reason: match e {
            KafkaError::ServerError {
                protocol_error,
                error_message,
                ..
            } => match error_message {
                Some(m) => format!("{protocol_error}: {m}"),
                None => protocol_error.to_string(),
            },
            other => other.to_string(),
        },
    }
}

/// The client of partition 0 of `topic`, creating the topic (one partition) when missing.
/// A topic with more partitions is refused: ordering and positions need exactly one.
async fn partition_of(client: &Client, topic: &str, create: bool) -> Result<PartitionClient> {
    let topics = client
        .list_topics()
        .await
        .map_err(|e| kafka_error(topic, e))?;
    match topics.iter().find(|t| t.name == topic) {
        Some(t) if t.partitions.len() != 1 => {
            return Err(CdcError::Kafka {
                what: format!("topic {topic}"),
                reason: format!(
                    "has {} partitions; medlake keeps a table's changes in one partition",
                    t.partitions.len()
                ),
            })
        }
        Some(_) => {}
        None if create => {
            let controller = client
                .controller_client()
                .map_err(|e| kafka_error(topic, e))?;
            match controller.create_topic(topic, 1, 1, 10_000).await {
                Ok(()) => info!(topic, "created topic"),
                Err(KafkaError::ServerError {
                    protocol_error: ProtocolError::TopicAlreadyExists,
                    ..
                }) => {}
                Err(e) => return Err(kafka_error(topic, e)),
            }
        }
        None => {
            return Err(CdcError::Kafka {
                what: format!("topic {topic}"),
                reason: "does not exist (has `medlake cdc --to kafka` run?)".into(),
            })
        }
    }
    client
        .partition_client(topic, 0, UnknownTopicHandling::Retry)
        .await
        .map_err(|e| kafka_error(topic, e))
}

/// Fetches from `offset` (at most `max_bytes`, though a broker returns at least one whole
/// batch), returning the messages and the partition's high watermark.
async fn fetch(
    partition: &PartitionClient,
    offset: i64,
    max_bytes: i32,
    max_wait_ms: i32,
) -> Result<(Vec<RecordAndOffset>, i64)> {
    partition
        .fetch_records(offset, 1..max_bytes, max_wait_ms)
        .await
        .map_err(|e| kafka_error(partition.topic(), e))
}

/// The first offset a partition still holds and the offset after its last message (the
/// high watermark, as a fetch reports it: brokers differ in what ListOffsets(latest)
/// answers, tansu 0.6 counts record batches).
async fn offset_range(partition: &PartitionClient) -> Result<(i64, i64)> {
    let first = partition
        .get_offset(OffsetAt::Earliest)
        .await
        .map_err(|e| kafka_error(partition.topic(), e))?;
    let (_, end) = fetch(partition, first, PROBE_BYTES, 0).await?;
    Ok((first, end))
}

/// The last message of a partition. Kafka answers a fetch inside a record batch with the
/// whole batch; some brokers (tansu 0.6) only with batches that start at or after the
/// offset asked, so the last batch's start is searched for (a fetch from an offset is empty
/// exactly when no batch starts at or after it).
async fn last_message(partition: &PartitionClient) -> Result<Option<RecordAndOffset>> {
    let (first, end) = offset_range(partition).await?;
    if end <= first {
        return Ok(None);
    }
    let (mut records, _) = fetch(partition, end - 1, PROBE_BYTES, 0).await?;
    if records.is_empty() {
        let (mut lo, mut hi) = (first, end - 1);
        while hi - lo > 1 {
            let mid = lo + (hi - lo) / 2;
            if fetch(partition, mid, PROBE_BYTES, 0).await?.0.is_empty() {
                hi = mid;
            } else {
                lo = mid;
            }
        }
        records = fetch(partition, lo, MAX_BATCH_BYTES as i32 * 4, 0).await?.0;
    }
    Ok(records.pop())
}

/// Publishes captured changes to Kafka, one topic per table (see the module doc).
pub struct KafkaSink {
    client: Arc<Client>,
    template: String,
    database: String,
    partitions: BTreeMap<&'static str, PartitionClient>,
}

impl KafkaSink {
    /// A sink publishing `database`'s tables to the topics `template` names.
    pub fn new(client: Arc<Client>, template: &str, database: &str) -> Result<KafkaSink> {
        check_topic_template(template)?;
        Ok(KafkaSink {
            client,
            template: template.to_string(),
            database: database.to_string(),
            partitions: BTreeMap::new(),
        })
    }

    async fn partition(&mut self, table: &'static Table) -> Result<&PartitionClient> {
        if !self.partitions.contains_key(table.name) {
            let topic = topic_name(&self.template, &self.database, table.name);
            let p = partition_of(&self.client, &topic, true).await?;
            self.partitions.insert(table.name, p);
        }
        Ok(&self.partitions[table.name])
    }
}

fn record(key: Option<String>, value: &Json, version: i64, ts: i64) -> Record {
    Record {
        key: key.map(String::into_bytes),
        value: Some(value.to_string().into_bytes()),
        headers: BTreeMap::from([(VERSION_HEADER.to_string(), version.to_string().into_bytes())]),
        timestamp: chrono::DateTime::from_timestamp(ts, 0).unwrap_or_default(),
    }
}

/// The binlog version a message carries.
fn message_version(r: &Record) -> Option<i64> {
    std::str::from_utf8(r.headers.get(VERSION_HEADER)?)
        .ok()?
        .parse()
        .ok()
}

#[async_trait]
impl ChangeSink for KafkaSink {
    fn name(&self) -> &str {
        "kafka"
    }

    async fn table_version(&mut self, table: &'static Table) -> Result<Option<i64>> {
        let partition = self.partition(table).await?;
        let topic = partition.topic().to_string();
        let Some(last) = last_message(partition).await? else {
            return Ok(None);
        };
        let kind = last
            .record
            .value
            .as_deref()
            .and_then(|v| serde_json::from_slice::<Json>(v).ok())
            .and_then(|j| j.get("type").and_then(Json::as_str).map(String::from));
        // A topic ending inside a bootstrap holds part of a snapshot: bootstrap again.
        if matches!(
            kind.as_deref(),
            Some("bootstrap-start" | "bootstrap-insert")
        ) {
            return Ok(None);
        }
        message_version(&last.record)
            .map(Some)
            .ok_or_else(|| CdcError::Message {
                topic,
                offset: last.offset,
                reason: format!("no {VERSION_HEADER} header: not written by medlake"),
            })
    }

    async fn write_table(
        &mut self,
        table: &'static Table,
        changes: &[&RowChange],
        version: i64,
    ) -> Result<()> {
        let database = self.database.clone();
        let partition = self.partition(table).await?;
        let topic = partition.topic().to_string();
        let bootstrap = is_bootstrap(changes);
        let ts = changes.first().map_or(0, |c| c.ts);
        let mut messages: Vec<(Record, Option<i64>)> = Vec::with_capacity(changes.len() + 2);
        if bootstrap {
            let m = bootstrap_marker("bootstrap-start", &database, table.name, ts);
            messages.push((record(None, &m, version, ts), None));
        }
        for c in changes {
            let v = c
                .position
                .as_ref()
                .and_then(|p| p.version())
                .unwrap_or(version);
            // Stream messages of one transaction share a version and stay in one batch.
            let boundary = (!bootstrap).then_some(v);
            messages.push((
                record(Some(c.kafka_key()), &c.maxwell_json(), v, c.ts),
                boundary,
            ));
        }
        if bootstrap {
            let m = bootstrap_marker("bootstrap-complete", &database, table.name, ts);
            messages.push((record(None, &m, version, ts), None));
        }
        for batch in batches_on_boundaries(messages, MAX_BATCH_BYTES) {
            partition
                .produce(batch, Compression::NoCompression)
                .await
                .map_err(|e| kafka_error(&topic, e))?;
        }
        Ok(())
    }
}

/// Cuts messages into batches of at most `max_bytes` (a single larger message goes alone),
/// never between two messages with the same `Some` boundary key (one transaction).
fn batches_on_boundaries(
    messages: Vec<(Record, Option<i64>)>,
    max_bytes: usize,
) -> Vec<Vec<Record>> {
    let mut out: Vec<Vec<Record>> = Vec::new();
    let mut current: Vec<Record> = Vec::new();
    let (mut bytes, mut last_key) = (0usize, None);
    for (r, key) in messages {
        let size = r.approximate_size();
        let same_transaction = key.is_some() && key == last_key;
        if !current.is_empty() && bytes + size > max_bytes && !same_transaction {
            out.push(std::mem::take(&mut current));
            bytes = 0;
        }
        bytes += size;
        last_key = key;
        current.push(r);
    }
    if !current.is_empty() {
        out.push(current);
    }
    out
}

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
    let change = RowChange::from_maxwell_json(&json).map_err(bad)?;
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
    use serde_json::json;

    fn rec(bytes: usize) -> Record {
        Record {
            key: None,
            value: Some(vec![b'x'; bytes]),
            headers: BTreeMap::new(),
            timestamp: chrono::DateTime::UNIX_EPOCH,
        }
    }

    #[test]
    fn batches_never_split_a_transaction() {
        let messages = vec![
            (rec(600), Some(1)),
            (rec(600), Some(2)),
            (rec(600), Some(2)),
            (rec(600), Some(3)),
        ];
        let sizes: Vec<usize> = batches_on_boundaries(messages, 1000)
            .iter()
            .map(Vec::len)
            .collect();
        // 1 | 2 2 (over the limit, but one transaction) | 3
        assert_eq!(sizes, vec![1, 2, 1]);
    }

    #[test]
    fn topics_are_named_per_table() {
        assert_eq!(
            topic_name(DEFAULT_TOPIC, "medical", "payment"),
            "medical.payment"
        );
        assert!(check_topic_template("maxwell").is_err());
    }

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
            for c in &table.columns {
                data.insert(c.name.into(), Json::Null);
            }
            data.insert("id".into(), json!(id));
            json!({"database": "medical", "table": "dict", "type": kind, "ts": 0, "data": data})
        };
        record(None, &value, 1, 0)
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
