//! Kafka: captured changes published as Maxwell publishes them, and a lander that writes
//! them into the lake's `ods_<table>_inc` tables, both exactly once.
//!
//! **Publishing** ([`KafkaSink`]): one topic per table (named by a template such as
//! `%{database}.%{table}`), one partition, so a table's changes keep their binlog order.
//! Every message is Maxwell's JSON keyed by Maxwell's key, and carries the binlog version
//! of its transaction in the header [`VERSION_HEADER`]. A flush is produced in record
//! batches that end on transaction boundaries, and the broker stores a batch whole, so the
//! last message of a topic tells how far the topic holds the table: that is the sink's
//! [`table_version`](crate::ChangeSink::table_version). A bootstrap runs between a
//! `bootstrap-start` and a `bootstrap-complete` message; a topic that ends inside one is
//! bootstrapped again.
//!
//! **Landing** ([`land`]): each topic is read from the offset stored in its lake table's
//! Delta log, as the `txn` marker `medlake-kafka:<topic>`, and every lake commit carries
//! the offset after its last message. The consumer offset and the rows land in the same
//! commit, so a crash anywhere loses and doubles nothing. A bootstrap lands in one commit
//! once its `bootstrap-complete` arrived; a restarted bootstrap replaces an unfinished one.
//!
//! The code is in three parts: `client` (connecting, topics, partitions, reading a topic's
//! last message), `sink` (publishing) and `lander` (landing).

mod client;
mod lander;
mod sink;

pub use client::{check_topic_template, connect, topic_name, Client, DEFAULT_TOPIC};
pub use lander::{land, lander_app_id, LandFigures, LandOptions, LandProgress, NoLandProgress};
pub use sink::{KafkaSink, VERSION_HEADER};
