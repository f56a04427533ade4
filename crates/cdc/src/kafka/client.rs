//! The Kafka client as the sink and the lander use it: connecting with rskafka, naming
//! topics, the one partition of a table's topic, fetches, and a topic's last message.

use std::sync::Arc;
use std::time::Duration;

use rskafka::client::error::{Error as KafkaError, ProtocolError};
use rskafka::client::partition::{OffsetAt, PartitionClient, UnknownTopicHandling};
/// The Kafka client [`connect`] returns (rskafka's).
pub use rskafka::client::Client;
use rskafka::client::ClientBuilder;
use rskafka::record::RecordAndOffset;
use tracing::info;

use crate::{CdcError, Result};

/// The default topic template: one topic per table, as `medical.consultation`.
pub const DEFAULT_TOPIC: &str = "%{database}.%{table}";

/// Largest record batch produced at once (the broker's usual limit is 1 MiB).
pub(crate) const MAX_BATCH_BYTES: usize = 768 * 1024;

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

/// A Kafka error about `what`, with the broker's own message when it sent one.
pub(crate) fn kafka_error(what: &str, e: KafkaError) -> CdcError {
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
pub(crate) async fn partition_of(
    client: &Client,
    topic: &str,
    create: bool,
) -> Result<PartitionClient> {
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
pub(crate) async fn fetch(
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
pub(crate) async fn offset_range(partition: &PartitionClient) -> Result<(i64, i64)> {
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
pub(crate) async fn last_message(partition: &PartitionClient) -> Result<Option<RecordAndOffset>> {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn topics_are_named_per_table() {
        assert_eq!(
            topic_name(DEFAULT_TOPIC, "medical", "payment"),
            "medical.payment"
        );
        assert!(check_topic_template("maxwell").is_err());
    }
}
