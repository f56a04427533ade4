//! The payloads' tests: signatures against the vendors' documented algorithms, the text,
//! and the webhook JSON's shape. `alert` is shared with the dispatcher's tests.

use super::*;
use chrono::TimeZone;

/// An alert of `rule` with `labels` (alertname and severity added).
pub(crate) fn alert(rule: &str, labels: &[(&str, &str)], state: AlertState) -> Alert {
    let mut all: Labels = labels
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    all.insert("alertname".into(), rule.into());
    all.entry("severity".into())
        .or_insert_with(|| "critical".to_string());
    let starts_at = Utc.with_ymd_and_hms(2026, 3, 2, 17, 45, 10).unwrap();
    Alert {
        rule: rule.to_string(),
        labels: all,
        summary: format!("{rule} on {labels:?}"),
        value: 1.0,
        state,
        starts_at,
        ends_at: (state == AlertState::Resolved)
            .then_some(starts_at + chrono::Duration::minutes(5)),
    }
}

fn group(alerts: Vec<Alert>) -> Notification {
    let labels = Labels::from([("alertname".to_string(), "BuildFailed".to_string())]);
    Notification::new("ops", "0:{alertname=\"BuildFailed\"}", labels, alerts)
}

/// URL-encodes the three characters base64 has that a query cannot carry as they are.
fn encode_base64_for_query(sign: &str) -> String {
    sign.replace('+', "%2B")
        .replace('/', "%2F")
        .replace('=', "%3D")
}

const SECRET: &str = "SECtest0123456789abcdef";

#[test]
fn dingtalk_signs_as_its_documentation_says() {
    let ts = 1_700_000_000_000_i64;
    // Independently: HMAC-SHA256(key = secret, message = "timestamp\nsecret"), base64.
    let mut mac = Hmac::<Sha256>::new_from_slice(SECRET.as_bytes()).unwrap();
    mac.update(format!("{ts}\n{SECRET}").as_bytes());
    let expected = base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes());
    assert_eq!(dingtalk_sign(SECRET, ts), expected);
    // And the value Python's hmac module gives for the same steps.
    assert_eq!(expected, "/lfnxUUu80FwVTsIlv2F1cMGBb+PxEKAwYh/bsRxXcc=");
    let url = dingtalk_url(
        "https://oapi.dingtalk.com/robot/send?access_token=T",
        Some(SECRET),
        ts,
    );
    let encoded = encode_base64_for_query(&expected);
    assert_eq!(
        url,
        format!(
            "https://oapi.dingtalk.com/robot/send?access_token=T&timestamp={ts}&sign={encoded}"
        )
    );
    assert!(
        dingtalk_url("http://127.0.0.1:9/robot", Some(SECRET), ts).contains("/robot?timestamp=")
    );
    assert_eq!(dingtalk_url("http://h/r?k=1", None, ts), "http://h/r?k=1");
}

#[test]
fn feishu_signs_with_the_string_to_sign_as_key() {
    let ts = 1_700_000_000_i64;
    let mac = Hmac::<Sha256>::new_from_slice(format!("{ts}\n{SECRET}").as_bytes()).unwrap();
    let expected = base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes());
    assert_eq!(feishu_sign(SECRET, ts), expected);
    assert_eq!(expected, "R9sugg1yeI3YQr9rgdGGtTPc1xPgB+4G136nVzRFCNg=");
    let n = group(vec![alert("BuildFailed", &[], AlertState::Firing)]);
    let body = feishu_body(&n, Some(SECRET), ts);
    assert_eq!(body["timestamp"], "1700000000");
    assert_eq!(body["sign"], expected.as_str());
    assert_eq!(body["msg_type"], "text");
    assert!(body["content"]["text"]
        .as_str()
        .unwrap()
        .starts_with("[FIRING:1] BuildFailed"));
    let unsigned = feishu_body(&n, None, ts);
    assert!(unsigned.get("timestamp").is_none() && unsigned.get("sign").is_none());
}

#[test]
fn text_has_a_title_and_a_line_per_alert_in_business_time() {
    let n = group(vec![
        alert(
            "BuildFailed",
            &[("table", "dws_consult")],
            AlertState::Firing,
        ),
        alert(
            "BuildFailed",
            &[("table", "dwd_payment")],
            AlertState::Firing,
        ),
    ]);
    let body = text(&n);
    let lines: Vec<&str> = body.lines().collect();
    assert_eq!(lines[0], "[FIRING:2] BuildFailed");
    assert!(
        lines[1].starts_with("[critical] BuildFailed on"),
        "{}",
        lines[1]
    );
    assert!(lines[1].contains("{table=\"dws_consult\"} since 2026-03-03 01:45:10 +08:00"));
    assert!(!lines[1].contains("alertname="));
    let resolved = group(vec![alert("BuildFailed", &[], AlertState::Resolved)]);
    assert!(text(&resolved).contains("resolved 2026-03-03 01:50:10 +08:00"));
    assert_eq!(title(&resolved), "[RESOLVED] BuildFailed");
    let wecom = wecom_body(&n);
    assert!(wecom["markdown"]["content"]
        .as_str()
        .unwrap()
        .starts_with("### [FIRING:2]"));
    assert_eq!(
        dingtalk_body(&n)["markdown"]["title"],
        "[FIRING:2] BuildFailed"
    );
}

#[test]
fn long_messages_are_cut_at_a_line_and_say_how_many_were_left_out() {
    let lines: Vec<String> = (0..100)
        .map(|i| format!("- line {i:03} {}", "x".repeat(50)))
        .collect();
    let cut = fit("### t\n".into(), &lines, 1_000);
    assert!(cut.len() <= 1_000);
    assert!(cut.ends_with("\n… and 85 more"), "{cut}");
}

#[test]
fn webhook_json_has_alertmanagers_shape() {
    let firing = alert("BuildFailed", &[("table", "a")], AlertState::Firing);
    let resolved = alert("BuildFailed", &[("table", "b")], AlertState::Resolved);
    let n = group(vec![firing.clone(), resolved]);
    let body = webhook_body(&n, "https://medlake.example.org");
    assert_eq!(body["version"], "4");
    assert_eq!(body["status"], "firing");
    assert_eq!(body["receiver"], "ops");
    assert_eq!(body["truncatedAlerts"], 0);
    assert_eq!(body["groupKey"], "0:{alertname=\"BuildFailed\"}");
    assert_eq!(body["groupLabels"]["alertname"], "BuildFailed");
    assert_eq!(
        body["commonLabels"],
        json!({"alertname": "BuildFailed", "severity": "critical"})
    );
    assert_eq!(body["commonAnnotations"], json!({}));
    assert_eq!(body["externalURL"], "https://medlake.example.org");
    let first = &body["alerts"][0];
    assert_eq!(first["status"], "firing");
    assert_eq!(first["labels"]["table"], "a");
    assert_eq!(first["annotations"]["summary"], firing.summary.as_str());
    assert_eq!(first["startsAt"], "2026-03-02T17:45:10Z");
    assert_eq!(first["endsAt"], NOT_ENDED);
    assert_eq!(first["generatorURL"], "");
    assert_eq!(first["fingerprint"], firing.fingerprint().as_str());
    assert_eq!(body["alerts"][1]["status"], "resolved");
    assert_eq!(body["alerts"][1]["endsAt"], "2026-03-02T17:50:10Z");
    let keys: Vec<&String> = first.as_object().unwrap().keys().collect();
    assert_eq!(
        keys.len(),
        7,
        "nothing beyond Alertmanager's fields: {keys:?}"
    );
}
