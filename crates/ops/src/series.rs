//! The figures as the alert evaluator and the monitoring page read them: a short history of
//! snapshots of every series, each taken at one instant (one scrape of medlake's own
//! registry). Prometheus keeps the same data in its TSDB; medlake keeps the last hour in
//! memory so that its embedded evaluator needs no Prometheus.

use std::collections::{BTreeMap, VecDeque};

/// A series' labels, without the metric name, sorted (so equal label sets compare equal).
pub type Labels = BTreeMap<String, String>;

/// One series' value at a snapshot. Histograms appear as Prometheus exposes them:
/// `<name>_bucket{le=...}`, `<name>_sum`, `<name>_count`.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    /// The metric name (`medlake_build_failed`).
    pub name: String,
    /// Its labels.
    pub labels: Labels,
    /// Its value.
    pub value: f64,
}

impl Sample {
    /// A sample of `name` with `labels` (pairs) and `value`.
    pub fn new(name: &str, labels: &[(&str, &str)], value: f64) -> Sample {
        Sample {
            name: name.to_string(),
            labels: labels
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            value,
        }
    }
}

/// Every series at one instant.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Snapshot {
    /// When it was taken, milliseconds since the Unix epoch.
    pub at_ms: i64,
    /// The series.
    pub samples: Vec<Sample>,
}

/// Snapshots in time order, the oldest dropped once older than `keep_ms` before the newest.
#[derive(Debug, Clone)]
pub struct History {
    keep_ms: i64,
    snapshots: VecDeque<Snapshot>,
}

impl History {
    /// An empty history keeping `keep_ms` milliseconds.
    pub fn new(keep_ms: i64) -> History {
        History {
            keep_ms,
            snapshots: VecDeque::new(),
        }
    }

    /// Adds a snapshot (taken after every one already held; an older one is ignored) and
    /// drops those that fell out of the window.
    pub fn push(&mut self, snapshot: Snapshot) {
        if self
            .snapshots
            .back()
            .is_some_and(|last| last.at_ms >= snapshot.at_ms)
        {
            return;
        }
        let oldest = snapshot.at_ms - self.keep_ms;
        self.snapshots.push_back(snapshot);
        while self.snapshots.front().is_some_and(|s| s.at_ms < oldest) {
            self.snapshots.pop_front();
        }
    }

    /// The newest snapshot.
    pub fn latest(&self) -> Option<&Snapshot> {
        self.snapshots.back()
    }

    /// Snapshots taken in `(from_ms, to_ms]`, oldest first.
    pub fn range(&self, from_ms: i64, to_ms: i64) -> impl Iterator<Item = &Snapshot> {
        self.snapshots
            .iter()
            .filter(move |s| s.at_ms > from_ms && s.at_ms <= to_ms)
    }

    /// How many snapshots are held.
    pub fn len(&self) -> usize {
        self.snapshots.len()
    }

    /// Whether none is held.
    pub fn is_empty(&self) -> bool {
        self.snapshots.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn history_keeps_its_window_and_ignores_snapshots_out_of_order() {
        let mut h = History::new(1_000);
        for at in [0, 500, 1_000, 1_500, 400] {
            h.push(Snapshot {
                at_ms: at,
                samples: vec![],
            });
        }
        let kept: Vec<i64> = h.range(i64::MIN, i64::MAX).map(|s| s.at_ms).collect();
        assert_eq!(kept, vec![500, 1_000, 1_500]);
        assert_eq!(h.latest().map(|s| s.at_ms), Some(1_500));
    }
}
