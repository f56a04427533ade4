//! How far each change capture is behind its server, in seconds and bytes.
//!
//! Seconds behind is measured without reading event times: every sample asks the server
//! where its binlog ends; a capture whose committed position has reached the end the
//! server reported at some earlier sample was caught up with everything written before
//! that sample. So its lag is the time since the newest such sample:
//! - a capture keeping up under steady writes reaches the previous sample's end by the next
//!   one: its lag stays within one interval, never mistaken for falling behind;
//! - a capture that stopped, or a server that stopped answering, leaves no newer sample it
//!   has reached: the lag grows with the clock until both work again — which is exactly
//!   what an operator needs to hear when the binlog database is down.

use std::collections::{BTreeMap, VecDeque};

use chrono::{DateTime, Utc};

/// One capture's committed position, as the catalog has it.
#[derive(Debug, Clone, PartialEq)]
pub struct CaptureProgress {
    /// The capture's key (source and sink).
    pub key: String,
    /// Its committed position as a growing number (file sequence and offset).
    pub committed: i64,
    /// Bytes of binlog after it on the server (none when the server did not answer).
    pub bytes_behind: Option<u64>,
}

/// Server ends seen at recent samples, and each capture's last caught-up time.
#[derive(Debug, Default)]
pub struct LagTracker {
    ends: VecDeque<(DateTime<Utc>, i64)>,
    caught_up: BTreeMap<String, DateTime<Utc>>,
}

/// Samples of the server's end kept: enough for an hour at one per second.
const KEEP: usize = 3_600;

impl LagTracker {
    /// Records a sample at `now`: the server's end (none when it did not answer) and the
    /// captures' positions; returns each capture's seconds behind.
    pub fn sample(
        &mut self,
        now: DateTime<Utc>,
        server_end: Option<i64>,
        captures: &[CaptureProgress],
    ) -> Vec<(String, f64)> {
        if let Some(end) = server_end {
            self.ends.push_back((now, end));
            while self.ends.len() > KEEP {
                self.ends.pop_front();
            }
        }
        captures
            .iter()
            .map(|c| {
                let reached = self
                    .ends
                    .iter()
                    .rev()
                    .find(|(_, end)| *end <= c.committed)
                    .map(|(at, _)| *at);
                let since = match reached {
                    Some(at) => {
                        self.caught_up.insert(c.key.clone(), at);
                        at
                    }
                    // Never seen caught up in the kept samples: since the last time it was,
                    // or since this tracker started watching it.
                    None => *self.caught_up.entry(c.key.clone()).or_insert(now),
                };
                (
                    c.key.clone(),
                    (now - since).num_milliseconds().max(0) as f64 / 1000.0,
                )
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(s, 0).unwrap()
    }

    fn progress(committed: i64) -> Vec<CaptureProgress> {
        vec![CaptureProgress {
            key: "k".into(),
            committed,
            bytes_behind: None,
        }]
    }

    #[test]
    fn keeping_up_stays_within_an_interval_and_a_stop_grows_with_the_clock() {
        let mut t = LagTracker::default();
        assert_eq!(
            t.sample(at(0), Some(100), &progress(100)),
            vec![("k".into(), 0.0)]
        );
        // Steady writes: the server is ahead at each sample, capture reaches the last end.
        assert_eq!(t.sample(at(15), Some(200), &progress(100))[0].1, 15.0);
        assert_eq!(t.sample(at(30), Some(300), &progress(200))[0].1, 15.0);
        assert_eq!(t.sample(at(45), Some(300), &progress(300))[0].1, 0.0);
        // The server stops answering: nothing newer is reached; the lag grows.
        assert_eq!(t.sample(at(60), None, &progress(300))[0].1, 15.0);
        assert_eq!(t.sample(at(120), None, &progress(300))[0].1, 75.0);
        // Back, with nothing new written: caught up at once.
        assert_eq!(t.sample(at(135), Some(300), &progress(300))[0].1, 0.0);
    }
}
