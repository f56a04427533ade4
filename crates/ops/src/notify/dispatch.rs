//! The grouping engine, after Alertmanager's: alerts are routed, gathered into groups (a
//! route and the values of its `group_by` labels), and a group is told when it is due:
//!
//! - a new group waits `group_wait` before its first message, to gather its alerts;
//! - after that, a group that changed (an alert newly firing, or resolved) is told again no
//!   sooner than `group_interval` after its last message;
//! - a group still firing and unchanged is told again every `repeat_interval`;
//! - when every alert of a group has resolved, one resolved message (if the route sends
//!   those), and the group is dropped.
//!
//! Alerts are the same alert when their fingerprints are. A silenced alert is left out as if
//! absent (nothing is sent for a group whose alerts are all silenced); when the silence ends
//! and it still fires, it is told as a new alert. Time is the caller's `now`: the engine
//! has no clock and no network, so it is tested tick by tick.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};

use super::config::{matchers_match, NotifyConfig, RouteConfig};
use super::payload::{label_set, Notification};
use crate::alerts::{Alert, AlertState};
use crate::series::Labels;

/// A silence: alerts whose labels meet every matcher are not told between `starts_at`
/// (inclusive) and `ends_at` (exclusive). People create them for planned work or a known
/// fault; `reason` and `created_by` say why and who.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Silence {
    /// Its identity where silences are stored.
    pub id: i64,
    /// Label equalities (a value `""` means the label is absent). A silence without
    /// matchers mutes nothing: silencing everything is not done by accident.
    pub matchers: BTreeMap<String, String>,
    /// From when it mutes.
    pub starts_at: DateTime<Utc>,
    /// Until when it mutes.
    pub ends_at: DateTime<Utc>,
    /// Why.
    pub reason: String,
    /// Who created it.
    pub created_by: String,
}

impl Silence {
    /// Whether it is in force at `now`.
    pub fn is_active(&self, now: DateTime<Utc>) -> bool {
        self.starts_at <= now && now < self.ends_at
    }

    /// Whether it mutes `alert` at `now`.
    pub fn mutes(&self, alert: &Alert, now: DateTime<Utc>) -> bool {
        self.is_active(now)
            && !self.matchers.is_empty()
            && matchers_match(&self.matchers, &alert.labels)
    }
}

/// What the engine remembers of one group between ticks.
#[derive(Debug, Clone)]
struct GroupState {
    /// The group labels.
    labels: Labels,
    /// When its first alert arrived (group_wait counts from here).
    created: DateTime<Utc>,
    /// When it was last told.
    last_sent: Option<DateTime<Utc>>,
    /// By fingerprint: alerts firing, and resolved ones still to be told.
    alerts: BTreeMap<String, Alert>,
    /// Fingerprints that fired when it was last told.
    sent_firing: BTreeSet<String>,
}

impl GroupState {
    fn new(labels: Labels, now: DateTime<Utc>) -> GroupState {
        GroupState {
            labels,
            created: now,
            last_sent: None,
            alerts: BTreeMap::new(),
            sent_firing: BTreeSet::new(),
        }
    }

    /// Takes this tick's alerts of the group. An alert no longer reported has resolved
    /// (now), unless it is muted: then it is forgotten, so that it is new when it returns.
    /// A resolved alert that was never told firing, or that the route does not tell, goes.
    fn update(
        &mut self,
        incoming: BTreeMap<String, Alert>,
        muted: &BTreeSet<String>,
        send_resolved: bool,
        now: DateTime<Utc>,
    ) {
        let gone: Vec<String> = self
            .alerts
            .keys()
            .filter(|fp| !incoming.contains_key(*fp))
            .cloned()
            .collect();
        for fp in gone {
            if muted.contains(&fp) {
                self.forget(&fp);
            } else if let Some(alert) = self.alerts.get_mut(&fp) {
                if alert.state == AlertState::Firing {
                    alert.state = AlertState::Resolved;
                    alert.ends_at = Some(now);
                }
            }
        }
        self.alerts.extend(incoming);
        let untold: Vec<String> = self
            .alerts
            .iter()
            .filter(|(fp, a)| {
                a.state == AlertState::Resolved
                    && (!send_resolved || !self.sent_firing.contains(*fp))
            })
            .map(|(fp, _)| fp.clone())
            .collect();
        for fp in untold {
            self.forget(&fp);
        }
    }

    fn forget(&mut self, fingerprint: &str) {
        self.alerts.remove(fingerprint);
        self.sent_firing.remove(fingerprint);
    }

    /// The alerts to tell now, if the group is due; the group then counts as told.
    fn take_due(&mut self, route: &RouteConfig, now: DateTime<Utc>) -> Option<Vec<Alert>> {
        let firing: BTreeSet<String> = self
            .alerts
            .iter()
            .filter(|(_, a)| a.state == AlertState::Firing)
            .map(|(fp, _)| fp.clone())
            .collect();
        let due = match self.last_sent {
            None => !firing.is_empty() && now >= after(self.created, route.group_wait),
            Some(last) => {
                let resolved = self.alerts.len() > firing.len();
                let changed = resolved || !firing.is_subset(&self.sent_firing);
                (changed && now >= after(last, route.group_interval))
                    || (!firing.is_empty() && now >= after(last, route.repeat_interval))
            }
        };
        if !due {
            return None;
        }
        let mut alerts: Vec<Alert> = self.alerts.values().cloned().collect();
        // Firing first, then by start, then by labels: the same order every time.
        alerts.sort_by(|a, b| {
            let key = |x: &Alert| (x.state != AlertState::Firing, x.starts_at);
            key(a).cmp(&key(b)).then_with(|| a.labels.cmp(&b.labels))
        });
        self.last_sent = Some(now);
        self.sent_firing = firing;
        self.alerts.retain(|_, a| a.state == AlertState::Firing);
        Some(alerts)
    }
}

/// `at + span`, or the end of time when that overflows.
fn after(at: DateTime<Utc>, span: Duration) -> DateTime<Utc> {
    TimeDelta::from_std(span)
        .ok()
        .and_then(|span| at.checked_add_signed(span))
        .unwrap_or(DateTime::<Utc>::MAX_UTC)
}

/// A group's identity: the route's index and the group labels as written (`{k="v"}`).
type GroupKey = (usize, String);

/// The grouping engine: routes, and the groups alive between ticks.
#[derive(Debug, Clone)]
pub struct Dispatcher {
    routes: Vec<RouteConfig>,
    /// By (route index, group labels as written).
    groups: BTreeMap<GroupKey, GroupState>,
}

impl Dispatcher {
    /// An engine for `config`'s routes (every alert to every receiver when none is given).
    /// The config is expected to be validated; a route naming an unknown receiver yields
    /// notifications that delivery cannot place.
    pub fn new(config: NotifyConfig) -> Dispatcher {
        Dispatcher {
            routes: config.effective_routes(),
            groups: BTreeMap::new(),
        }
    }

    /// Takes the current alerts (every firing alert, and alerts that resolved since the
    /// last call) and the active silences, at `now`; returns the notifications due now, one
    /// per receiver of each due group's route, in route and group order. A firing alert
    /// that is no longer given counts as resolved at `now`. Pending alerts are ignored.
    pub fn tick(
        &mut self,
        now: DateTime<Utc>,
        alerts: &[Alert],
        silences: &[Silence],
    ) -> Vec<Notification> {
        let (live, muted) = current_alerts(alerts, silences, now);
        let mut incoming: BTreeMap<GroupKey, (Labels, BTreeMap<String, Alert>)> = BTreeMap::new();
        for (fp, alert) in live {
            let routes = self.routes_for(&alert.labels);
            if routes.is_empty() {
                tracing::debug!(alert = %alert.rule, "no route takes the alert");
            }
            for index in routes {
                let labels = group_labels(&self.routes[index], &alert.labels);
                let (_, group) = incoming
                    .entry((index, label_set(&labels)))
                    .or_insert_with(|| (labels, BTreeMap::new()));
                group.insert(fp.clone(), alert.clone());
            }
        }
        for (key, (labels, group)) in &incoming {
            let fires = group.values().any(|a| a.state == AlertState::Firing);
            if fires && !self.groups.contains_key(key) {
                self.groups
                    .insert(key.clone(), GroupState::new(labels.clone(), now));
            }
        }
        let mut due = Vec::new();
        for (key, group) in &mut self.groups {
            let route = &self.routes[key.0];
            let arrived = incoming.remove(key).map(|(_, g)| g).unwrap_or_default();
            group.update(arrived, &muted, route.send_resolved, now);
            let Some(alerts) = group.take_due(route, now) else {
                continue;
            };
            let group_key = format!("{}:{}", key.0, key.1);
            for receiver in &route.receivers {
                due.push(Notification::new(
                    receiver,
                    &group_key,
                    group.labels.clone(),
                    alerts.clone(),
                ));
            }
        }
        self.groups.retain(|_, group| !group.alerts.is_empty());
        due
    }

    /// How many groups are alive (firing, or resolved and still to be told).
    pub fn group_count(&self) -> usize {
        self.groups.len()
    }

    /// The routes an alert takes: the first matching, and the ones after it while a
    /// matching route says `continue`.
    fn routes_for(&self, labels: &Labels) -> Vec<usize> {
        let mut chosen = Vec::new();
        for (index, route) in self.routes.iter().enumerate() {
            if route.matches(labels) {
                chosen.push(index);
                if !route.continue_matching {
                    break;
                }
            }
        }
        chosen
    }
}

/// The alerts to consider, one per fingerprint (firing wins over resolved), without
/// pending ones and without those a silence mutes; and the fingerprints muted.
fn current_alerts(
    alerts: &[Alert],
    silences: &[Silence],
    now: DateTime<Utc>,
) -> (BTreeMap<String, Alert>, BTreeSet<String>) {
    let mut live: BTreeMap<String, Alert> = BTreeMap::new();
    let mut muted = BTreeSet::new();
    for alert in alerts {
        if alert.state == AlertState::Pending {
            continue;
        }
        let fp = alert.fingerprint();
        if silences.iter().any(|s| s.mutes(alert, now)) {
            muted.insert(fp);
            continue;
        }
        let firing_seen = live
            .get(&fp)
            .is_some_and(|seen| seen.state == AlertState::Firing);
        if !(firing_seen && alert.state == AlertState::Resolved) {
            live.insert(fp, alert.clone());
        }
    }
    (live, muted)
}

/// The values of the route's `group_by` labels the alert has (`...`: all of its labels).
fn group_labels(route: &RouteConfig, labels: &Labels) -> Labels {
    if route.group_by.iter().any(|l| l == "...") {
        return labels.clone();
    }
    route
        .group_by
        .iter()
        .filter_map(|k| labels.get(k).map(|v| (k.clone(), v.clone())))
        .collect()
}

#[cfg(test)]
#[path = "dispatch_tests.rs"]
mod tests;
