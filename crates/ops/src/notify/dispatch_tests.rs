//! The dispatcher's tests, tick by tick (kept apart so that `dispatch.rs` stays short).

use super::*;
use crate::notify::payload::tests::alert;
use crate::notify::payload::GroupStatus;
use chrono::TimeZone;

/// Two webhook receivers, `a` and `b`, and `routes` (TOML).
fn dispatcher(routes: &str) -> Dispatcher {
    let text = format!(
        "[[receivers]]\nname = \"a\"\nkind = \"webhook\"\nurl = \"http://127.0.0.1:9/a\"\n\
         [[receivers]]\nname = \"b\"\nkind = \"webhook\"\nurl = \"http://127.0.0.1:9/b\"\n\
         {routes}"
    );
    Dispatcher::new(NotifyConfig::parse(&text).unwrap())
}

/// One route to `a`: wait 10s, interval 1m, repeat 1h.
fn to_a() -> Dispatcher {
    dispatcher(
        "[[routes]]\nreceivers = [\"a\"]\n\
         group_wait = \"10s\"\ngroup_interval = \"1m\"\nrepeat_interval = \"1h\"\n",
    )
}

/// `s` seconds after the start.
fn at(s: i64) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 2, 18, 0, 0).unwrap() + TimeDelta::seconds(s)
}

fn firing(table: &str) -> Alert {
    alert("BuildFailed", &[("table", table)], AlertState::Firing)
}

fn resolved(table: &str) -> Alert {
    alert("BuildFailed", &[("table", table)], AlertState::Resolved)
}

/// The tables of a notification's alerts, with `!` after resolved ones.
fn tables(n: &Notification) -> Vec<String> {
    n.alerts
        .iter()
        .map(|a| {
            let mark = if a.state == AlertState::Resolved {
                "!"
            } else {
                ""
            };
            format!("{}{mark}", a.labels["table"])
        })
        .collect()
}

#[test]
fn a_new_group_waits_group_wait_before_its_first_message() {
    let mut d = to_a();
    assert!(d.tick(at(0), &[firing("x")], &[]).is_empty());
    assert!(d.tick(at(9), &[firing("x")], &[]).is_empty());
    let sent = d.tick(at(10), &[firing("x"), firing("y")], &[]);
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].receiver, "a");
    assert_eq!(sent[0].group_key, "0:{alertname=\"BuildFailed\"}");
    assert_eq!(sent[0].status, GroupStatus::Firing);
    assert_eq!(tables(&sent[0]), vec!["x", "y"]);
}

#[test]
fn a_changed_group_waits_group_interval_after_its_last_message() {
    let mut d = to_a();
    d.tick(at(0), &[firing("x")], &[]);
    assert_eq!(d.tick(at(10), &[firing("x")], &[]).len(), 1);
    assert!(d.tick(at(20), &[firing("x"), firing("y")], &[]).is_empty());
    assert!(d.tick(at(69), &[firing("x"), firing("y")], &[]).is_empty());
    let sent = d.tick(at(70), &[firing("x"), firing("y")], &[]);
    assert_eq!(tables(&sent[0]), vec!["x", "y"]);
    // Unchanged since: nothing at the next interval.
    assert!(d.tick(at(130), &[firing("x"), firing("y")], &[]).is_empty());
}

#[test]
fn an_unchanged_firing_group_is_told_again_every_repeat_interval() {
    let mut d = to_a();
    d.tick(at(0), &[firing("x")], &[]);
    assert_eq!(d.tick(at(10), &[firing("x")], &[]).len(), 1);
    assert!(d.tick(at(3_609), &[firing("x")], &[]).is_empty());
    assert_eq!(d.tick(at(3_610), &[firing("x")], &[]).len(), 1);
    assert!(d.tick(at(3_700), &[firing("x")], &[]).is_empty());
}

#[test]
fn a_resolved_group_is_told_once_then_dropped() {
    let mut d = to_a();
    d.tick(at(0), &[firing("x"), firing("y")], &[]);
    d.tick(at(10), &[firing("x"), firing("y")], &[]);
    // y resolves (reported), then x stops being reported: both resolved.
    assert!(d
        .tick(at(30), &[firing("x"), resolved("y")], &[])
        .is_empty());
    let sent = d.tick(at(70), &[firing("x")], &[]);
    assert_eq!(tables(&sent[0]), vec!["x", "y!"]);
    assert_eq!(sent[0].status, GroupStatus::Firing);
    let sent = d.tick(at(130), &[], &[]);
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].status, GroupStatus::Resolved);
    assert_eq!(tables(&sent[0]), vec!["x!"]);
    assert_eq!(sent[0].alerts[0].ends_at, Some(at(130)));
    assert_eq!(d.group_count(), 0);
    // The same resolved alert again is not told again, nor does it make a group.
    assert!(d.tick(at(200), &[resolved("x")], &[]).is_empty());
    assert!(d.tick(at(400), &[resolved("x")], &[]).is_empty());
    assert_eq!(d.group_count(), 0);
}

#[test]
fn resolved_alerts_are_not_told_when_the_route_says_so() {
    let mut d = dispatcher("[[routes]]\nreceivers = [\"a\"]\nsend_resolved = false\n");
    d.tick(at(0), &[firing("x")], &[]);
    assert_eq!(d.tick(at(10), &[firing("x")], &[]).len(), 1);
    assert!(d.tick(at(100), &[resolved("x")], &[]).is_empty());
    assert_eq!(d.group_count(), 0);
}

#[test]
fn an_alert_that_resolves_before_it_was_told_is_never_told() {
    let mut d = to_a();
    d.tick(at(0), &[firing("x")], &[]);
    assert!(d.tick(at(5), &[resolved("x")], &[]).is_empty());
    assert!(d.tick(at(20), &[], &[]).is_empty());
    assert_eq!(d.group_count(), 0);
}

#[test]
fn the_same_alert_twice_is_one() {
    let mut d = to_a();
    d.tick(at(0), &[firing("x"), firing("x")], &[]);
    let sent = d.tick(at(10), &[firing("x"), resolved("x"), firing("x")], &[]);
    assert_eq!(tables(&sent[0]), vec!["x"]);
    assert!(d.tick(at(80), &[firing("x"), firing("x")], &[]).is_empty());
    // Pending alerts are not considered at all.
    let pending = alert("BuildFailed", &[("table", "p")], AlertState::Pending);
    assert!(d.tick(at(200), &[firing("x"), pending], &[]).is_empty());
}

#[test]
fn a_silence_mutes_and_its_end_tells_the_alert_as_new() {
    let mut d = to_a();
    let silence = Silence {
        id: 1,
        matchers: BTreeMap::from([("table".to_string(), "x".to_string())]),
        starts_at: at(0),
        ends_at: at(100),
        reason: "planned backfill".into(),
        created_by: "dba".into(),
    };
    let silences = [silence];
    assert!(d.tick(at(0), &[firing("x")], &silences).is_empty());
    assert!(d.tick(at(10), &[firing("x")], &silences).is_empty());
    assert_eq!(d.group_count(), 0);
    // y is not silenced: told alone.
    d.tick(at(20), &[firing("x"), firing("y")], &silences);
    let sent = d.tick(at(30), &[firing("x"), firing("y")], &silences);
    assert_eq!(tables(&sent[0]), vec!["y"]);
    // Still muted just before the silence ends; y unchanged: nothing.
    assert!(d
        .tick(at(99), &[firing("x"), firing("y")], &silences)
        .is_empty());
    // The silence has ended (ends_at is exclusive): x is new, and the group interval since
    // the last message has passed.
    let sent = d.tick(at(100), &[firing("x"), firing("y")], &silences);
    assert_eq!(tables(&sent[0]), vec!["x", "y"]);
    // A silence with no matchers mutes nothing.
    let everything = Silence {
        matchers: BTreeMap::new(),
        ..silences[0].clone()
    };
    assert!(!everything.mutes(&firing("x"), at(50)));
}

#[test]
fn silencing_a_told_alert_sends_no_resolved_message() {
    let mut d = to_a();
    d.tick(at(0), &[firing("x")], &[]);
    assert_eq!(d.tick(at(10), &[firing("x")], &[]).len(), 1);
    let silence = Silence {
        id: 2,
        matchers: BTreeMap::from([("alertname".to_string(), "BuildFailed".to_string())]),
        starts_at: at(20),
        ends_at: at(1_000),
        reason: "known".into(),
        created_by: "ops".into(),
    };
    assert!(d
        .tick(at(20), &[firing("x")], std::slice::from_ref(&silence))
        .is_empty());
    assert!(d.tick(at(200), &[firing("x")], &[silence]).is_empty());
    assert_eq!(d.group_count(), 0);
    assert!(d.tick(at(1_000), &[firing("x")], &[]).is_empty());
    assert_eq!(d.tick(at(1_010), &[firing("x")], &[]).len(), 1);
}

#[test]
fn routes_stop_at_the_first_match_unless_continue() {
    let critical = firing("x");
    let warning = alert(
        "Slow",
        &[("table", "y"), ("severity", "warning")],
        AlertState::Firing,
    );
    let routes = |cont: bool| {
        format!(
            "[[routes]]\nmatchers = {{ severity = \"critical\" }}\nreceivers = [\"a\"]\n\
             group_wait = \"0s\"\ncontinue = {cont}\n\
             [[routes]]\nreceivers = [\"a\", \"b\"]\ngroup_wait = \"0s\"\n"
        )
    };
    let mut stop = dispatcher(&routes(false));
    let sent = stop.tick(at(0), &[critical.clone(), warning.clone()], &[]);
    let got: Vec<(&str, &str)> = sent
        .iter()
        .map(|n| (n.receiver.as_str(), n.group_key.as_str()))
        .collect();
    assert_eq!(
        got,
        vec![
            ("a", "0:{alertname=\"BuildFailed\"}"),
            ("a", "1:{alertname=\"Slow\"}"),
            ("b", "1:{alertname=\"Slow\"}"),
        ]
    );
    let mut go_on = dispatcher(&routes(true));
    let sent = go_on.tick(at(0), &[critical], &[]);
    let got: Vec<(&str, &str)> = sent
        .iter()
        .map(|n| (n.receiver.as_str(), n.group_key.as_str()))
        .collect();
    assert_eq!(
        got,
        vec![
            ("a", "0:{alertname=\"BuildFailed\"}"),
            ("a", "1:{alertname=\"BuildFailed\"}"),
            ("b", "1:{alertname=\"BuildFailed\"}"),
        ]
    );
}

#[test]
fn without_routes_every_alert_goes_to_every_receiver_after_ten_seconds() {
    let mut d = dispatcher("");
    assert!(d.tick(at(0), &[firing("x")], &[]).is_empty());
    let sent = d.tick(at(10), &[firing("x")], &[]);
    let receivers: Vec<&str> = sent.iter().map(|n| n.receiver.as_str()).collect();
    assert_eq!(receivers, vec!["a", "b"]);
}
