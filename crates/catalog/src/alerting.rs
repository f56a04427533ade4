//! What the alerting keeps: every change of an alert's state (the history the monitoring
//! page shows), silences people set, every notification sent or given up on, and a day of
//! the key figures for the monitoring page's charts (so no Prometheus is needed for them).
//!
//! Labels are kept as the JSON text the caller gives; times as RFC 3339 in UTC, as
//! Alertmanager writes them.

use chrono::{DateTime, Utc};

use crate::db::Row;
use crate::{Catalog, CatalogError, Result};

/// One change of an alert's state.
#[derive(Debug, Clone, PartialEq)]
pub struct AlertEvent {
    /// The alert's fingerprint (its labels, hashed).
    pub fingerprint: String,
    /// The rule.
    pub rule: String,
    /// Its severity.
    pub severity: String,
    /// Its labels, as JSON.
    pub labels: String,
    /// Its summary (figures and names, never row values).
    pub summary: String,
    /// `firing` or `resolved`.
    pub state: String,
    /// The expression's value.
    pub value: f64,
    /// When the condition started to hold.
    pub starts_at: DateTime<Utc>,
    /// When it resolved.
    pub ends_at: Option<DateTime<Utc>>,
    /// When this change was recorded.
    pub recorded: DateTime<Utc>,
}

/// A silence: alerts whose labels match are not notified until it ends.
#[derive(Debug, Clone, PartialEq)]
pub struct SilenceRecord {
    /// Its number.
    pub id: i64,
    /// Label matchers (equality), as JSON.
    pub matchers: String,
    /// From when.
    pub starts_at: DateTime<Utc>,
    /// Until when.
    pub ends_at: DateTime<Utc>,
    /// Why (required: a silence nobody can explain is a hazard).
    pub reason: String,
    /// Who set it.
    pub created_by: String,
}

/// One notification: a group of alerts sent to a receiver, or given up on.
#[derive(Debug, Clone, PartialEq)]
pub struct NotificationRecord {
    /// The receiver's name.
    pub receiver: String,
    /// The group (route and grouping labels).
    pub group_key: String,
    /// `firing` or `resolved`.
    pub status: String,
    /// How many alerts it carried.
    pub alerts: i64,
    /// Attempts made.
    pub attempts: i64,
    /// Whether the receiver took it.
    pub delivered: bool,
    /// The last error (without secrets or URLs' queries).
    pub error: Option<String>,
    /// When it ended.
    pub sent: DateTime<Utc>,
}

/// A figure's value at a minute, for the 24-hour charts.
#[derive(Debug, Clone, PartialEq)]
pub struct FigurePoint {
    /// The chart's series (`query_p95_seconds`, `capture_lag_seconds`, ...).
    pub series: String,
    /// When.
    pub at: DateTime<Utc>,
    /// The value.
    pub value: f64,
}

fn time(t: &DateTime<Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

fn parse_utc(s: &str, what: &'static str) -> Result<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(s)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|_| CatalogError::Corrupt(what))
}

fn parse_float(s: &str, what: &'static str) -> Result<f64> {
    s.parse().map_err(|_| CatalogError::Corrupt(what))
}

impl Catalog {
    /// Records a change of an alert's state.
    pub fn record_alert_event(&self, e: &AlertEvent) -> Result<()> {
        self.db.execute(
            "INSERT INTO alert_event (fingerprint, rule, severity, labels, summary, state, value,
               starts_at, ends_at, recorded) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
            sql_params![
                e.fingerprint.as_str(),
                e.rule.as_str(),
                e.severity.as_str(),
                e.labels.as_str(),
                e.summary.as_str(),
                e.state.as_str(),
                e.value.to_string(),
                time(&e.starts_at),
                e.ends_at.as_ref().map_or_else(String::new, time),
                time(&e.recorded)
            ],
        )?;
        Ok(())
    }

    /// The newest `limit` alert events, newest first.
    pub fn alert_events(&self, limit: usize) -> Result<Vec<AlertEvent>> {
        let rows = self.db.query(
            "SELECT fingerprint, rule, severity, labels, summary, state, value, starts_at,
               ends_at, recorded FROM alert_event ORDER BY id DESC LIMIT ?1",
            sql_params![limit as i64],
        )?;
        rows.iter().map(alert_event_row).collect()
    }

    /// Sets a silence; returns its number.
    pub fn add_silence(&self, s: &SilenceRecord) -> Result<i64> {
        let row = self.db.query_opt(
            "INSERT INTO alert_silence (matchers, starts_at, ends_at, reason, created_by)
             VALUES (?1, ?2, ?3, ?4, ?5) RETURNING id",
            sql_params![
                s.matchers.as_str(),
                time(&s.starts_at),
                time(&s.ends_at),
                s.reason.as_str(),
                s.created_by.as_str()
            ],
        )?;
        row.ok_or(CatalogError::Corrupt("alert_silence.id"))?
            .int(0, "alert_silence.id")
    }

    /// Ends silence `id` now; whether it was still running.
    pub fn expire_silence(&self, id: i64, now: DateTime<Utc>) -> Result<bool> {
        let changed = self.db.execute(
            "UPDATE alert_silence SET ends_at = ?2 WHERE id = ?1 AND ends_at > ?2",
            sql_params![id, time(&now)],
        )?;
        Ok(changed > 0)
    }

    /// Silences that have not ended by `now` (including those yet to start).
    pub fn active_silences(&self, now: DateTime<Utc>) -> Result<Vec<SilenceRecord>> {
        let rows = self.db.query(
            "SELECT id, matchers, starts_at, ends_at, reason, created_by FROM alert_silence
             WHERE ends_at > ?1 ORDER BY id",
            sql_params![time(&now)],
        )?;
        rows.iter().map(silence_row).collect()
    }

    /// Records a notification.
    pub fn record_notification(&self, n: &NotificationRecord) -> Result<()> {
        self.db.execute(
            "INSERT INTO alert_notification (receiver, group_key, status, alerts, attempts,
               delivered, error, sent) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
            sql_params![
                n.receiver.as_str(),
                n.group_key.as_str(),
                n.status.as_str(),
                n.alerts,
                n.attempts,
                i64::from(n.delivered),
                n.error.clone().unwrap_or_default(),
                time(&n.sent)
            ],
        )?;
        Ok(())
    }

    /// The newest `limit` notifications, newest first.
    pub fn notifications(&self, limit: usize) -> Result<Vec<NotificationRecord>> {
        let rows = self.db.query(
            "SELECT receiver, group_key, status, alerts, attempts, delivered, error, sent
             FROM alert_notification ORDER BY id DESC LIMIT ?1",
            sql_params![limit as i64],
        )?;
        rows.iter()
            .map(|r| {
                Ok(NotificationRecord {
                    receiver: r.text(0, "alert_notification.receiver")?,
                    group_key: r.text(1, "alert_notification.group_key")?,
                    status: r.text(2, "alert_notification.status")?,
                    alerts: r.int(3, "alert_notification.alerts")?,
                    attempts: r.int(4, "alert_notification.attempts")?,
                    delivered: r.int(5, "alert_notification.delivered")? != 0,
                    error: r
                        .opt_text(6, "alert_notification.error")?
                        .filter(|e| !e.is_empty()),
                    sent: parse_utc(
                        &r.text(7, "alert_notification.sent")?,
                        "alert_notification.sent",
                    )?,
                })
            })
            .collect()
    }

    /// Keeps figure points for the charts and drops those older than `keep_from`.
    pub fn record_figure_points(
        &self,
        points: &[FigurePoint],
        keep_from: DateTime<Utc>,
    ) -> Result<()> {
        let rows = points
            .iter()
            .map(|p| sql_params![p.series.as_str(), time(&p.at), p.value.to_string()])
            .collect();
        self.db.execute_many(
            "INSERT INTO figure_point (series, at, value) VALUES (?1, ?2, ?3)
             ON CONFLICT(series, at) DO UPDATE SET value = excluded.value",
            rows,
        )?;
        self.db.execute(
            "DELETE FROM figure_point WHERE at < ?1",
            sql_params![time(&keep_from)],
        )?;
        Ok(())
    }

    /// Figure points of `series` since `from`, oldest first.
    pub fn figure_points(&self, series: &str, from: DateTime<Utc>) -> Result<Vec<FigurePoint>> {
        let rows = self.db.query(
            "SELECT series, at, value FROM figure_point WHERE series = ?1 AND at >= ?2 ORDER BY at",
            sql_params![series, time(&from)],
        )?;
        rows.iter()
            .map(|r| {
                Ok(FigurePoint {
                    series: r.text(0, "figure_point.series")?,
                    at: parse_utc(&r.text(1, "figure_point.at")?, "figure_point.at")?,
                    value: parse_float(&r.text(2, "figure_point.value")?, "figure_point.value")?,
                })
            })
            .collect()
    }
}

fn alert_event_row(r: &Row) -> Result<AlertEvent> {
    let ends = r
        .opt_text(8, "alert_event.ends_at")?
        .filter(|s| !s.is_empty());
    Ok(AlertEvent {
        fingerprint: r.text(0, "alert_event.fingerprint")?,
        rule: r.text(1, "alert_event.rule")?,
        severity: r.text(2, "alert_event.severity")?,
        labels: r.text(3, "alert_event.labels")?,
        summary: r.text(4, "alert_event.summary")?,
        state: r.text(5, "alert_event.state")?,
        value: parse_float(&r.text(6, "alert_event.value")?, "alert_event.value")?,
        starts_at: parse_utc(
            &r.text(7, "alert_event.starts_at")?,
            "alert_event.starts_at",
        )?,
        ends_at: ends
            .map(|e| parse_utc(&e, "alert_event.ends_at"))
            .transpose()?,
        recorded: parse_utc(&r.text(9, "alert_event.recorded")?, "alert_event.recorded")?,
    })
}

fn silence_row(r: &Row) -> Result<SilenceRecord> {
    Ok(SilenceRecord {
        id: r.int(0, "alert_silence.id")?,
        matchers: r.text(1, "alert_silence.matchers")?,
        starts_at: parse_utc(
            &r.text(2, "alert_silence.starts_at")?,
            "alert_silence.starts_at",
        )?,
        ends_at: parse_utc(
            &r.text(3, "alert_silence.ends_at")?,
            "alert_silence.ends_at",
        )?,
        reason: r.text(4, "alert_silence.reason")?,
        created_by: r.text(5, "alert_silence.created_by")?,
    })
}

#[cfg(test)]
mod tests {
    use chrono::Duration;

    use super::*;
    use crate::testing::catalogs;

    #[test]
    fn events_silences_notifications_and_figure_points_round_trip() {
        for (backend, test) in catalogs("alerting") {
            let catalog = &test.catalog;
            let now = Utc::now();
            let event = AlertEvent {
                fingerprint: "ab12".into(),
                rule: "BuildFailed".into(),
                severity: "critical".into(),
                labels: r#"{"day":"2026-03-03"}"#.into(),
                summary: "the build of 2026-03-03 failed".into(),
                state: "firing".into(),
                value: 1.0,
                starts_at: now,
                ends_at: None,
                recorded: now,
            };
            catalog.record_alert_event(&event).unwrap();
            let events = catalog.alert_events(10).unwrap();
            assert_eq!(events.len(), 1, "{backend}");
            assert_eq!(events[0].rule, "BuildFailed", "{backend}");
            assert_eq!(events[0].ends_at, None, "{backend}");

            let silence = SilenceRecord {
                id: 0,
                matchers: r#"{"alertname":"BuildFailed"}"#.into(),
                starts_at: now,
                ends_at: now + Duration::hours(1),
                reason: "rebuilding by hand".into(),
                created_by: "admin".into(),
            };
            let id = catalog.add_silence(&silence).unwrap();
            assert_eq!(catalog.active_silences(now).unwrap().len(), 1, "{backend}");
            assert!(
                catalog
                    .expire_silence(id, now + Duration::seconds(1))
                    .unwrap(),
                "{backend}"
            );
            assert!(catalog
                .active_silences(now + Duration::seconds(2))
                .unwrap()
                .is_empty());

            catalog
                .record_notification(&NotificationRecord {
                    receiver: "webhook".into(),
                    group_key: "g".into(),
                    status: "firing".into(),
                    alerts: 1,
                    attempts: 3,
                    delivered: false,
                    error: Some("connection refused".into()),
                    sent: now,
                })
                .unwrap();
            let sent = catalog.notifications(5).unwrap();
            assert_eq!(
                (sent[0].attempts, sent[0].delivered),
                (3, false),
                "{backend}"
            );

            let old = FigurePoint {
                series: "lag".into(),
                at: now - Duration::days(2),
                value: 9.0,
            };
            let new = FigurePoint {
                series: "lag".into(),
                at: now,
                value: 1.5,
            };
            catalog
                .record_figure_points(&[old, new], now - Duration::days(1))
                .unwrap();
            let points = catalog
                .figure_points("lag", now - Duration::days(3))
                .unwrap();
            assert_eq!(points.len(), 1, "{backend}: the old point is dropped");
            assert_eq!(points[0].value, 1.5, "{backend}");
        }
    }
}
