//! The sink that publishes captured changes to Kafka as Maxwell's JSON, one topic per table,
//! in record batches that end on transaction boundaries (see the module doc of `kafka`).

use std::collections::BTreeMap;
use std::sync::Arc;

use async_trait::async_trait;
use medlake_schema::Table;
use rskafka::client::partition::{Compression, PartitionClient};
use rskafka::record::Record;
use serde_json::Value as Json;

use super::client::{
    check_topic_template, kafka_error, last_message, partition_of, topic_name, Client,
    MAX_BATCH_BYTES,
};
use crate::change::{bootstrap_marker, is_bootstrap, RowChange};
use crate::sink::ChangeSink;
use crate::{CdcError, Result};

/// The message header holding the binlog version (see
/// [`BinlogPosition::version`](crate::BinlogPosition::version)) of the message's
/// transaction, or of the snapshot for bootstrap messages.
pub const VERSION_HEADER: &str = "medlake.version";

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

/// A message: `value` as JSON under `key`, its binlog `version` in [`VERSION_HEADER`].
pub(crate) fn record(key: Option<String>, value: String, version: i64, ts: i64) -> Record {
    Record {
        key: key.map(String::into_bytes),
        value: Some(value.into_bytes()),
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
            messages.push((record(None, m.to_string(), version, ts), None));
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
                record(Some(c.kafka_key()), c.maxwell_line(), v, c.ts),
                boundary,
            ));
        }
        if bootstrap {
            let m = bootstrap_marker("bootstrap-complete", &database, table.name, ts);
            messages.push((record(None, m.to_string(), version, ts), None));
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

#[cfg(test)]
mod tests {
    use super::*;

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
}
