//! Tests of delivering events, none of which needs a network: endpoint URLs, the file
//! transport, and HTTP deliveries that fail.

use serde_json::json;

use super::*;

fn endpoint(url: &str) -> Option<String> {
    lineage_endpoint(url).ok().map(String::from)
}

#[test]
fn endpoint_appends_the_lineage_path_once() {
    let expected = Some("http://localhost:5000/api/v1/lineage".to_owned());
    assert_eq!(endpoint("http://localhost:5000"), expected);
    assert_eq!(endpoint("http://localhost:5000/"), expected);
    assert_eq!(endpoint("http://localhost:5000/api/v1/lineage"), expected);
    assert_eq!(endpoint("http://localhost:5000/api/v1/lineage/"), expected);
    assert_eq!(
        endpoint("https://example.org/marquez/"),
        Some("https://example.org/marquez/api/v1/lineage".to_owned())
    );
}

#[test]
fn validate_url_accepts_http_and_rejects_the_rest() {
    assert_eq!(validate_url("http://localhost:5000"), Ok(()));
    assert_eq!(validate_url("https://lineage.example.org"), Ok(()));
    let scheme = validate_url("ftp://example.org/lineage");
    assert!(
        matches!(scheme, Err(TransportError::UnsupportedScheme { .. })),
        "{scheme:?}"
    );
    let invalid = validate_url("not a url");
    assert!(
        matches!(invalid, Err(TransportError::InvalidUrl { .. })),
        "{invalid:?}"
    );
    let message = invalid
        .err()
        .map(|error| error.to_string())
        .unwrap_or_default();
    assert!(!message.contains('\n'), "{message}");
}

#[test]
fn backoff_doubles_up_to_five_seconds() {
    assert_eq!(backoff(0), Duration::from_millis(200));
    assert_eq!(backoff(1), Duration::from_millis(400));
    assert_eq!(backoff(4), Duration::from_millis(3200));
    assert_eq!(backoff(5), MAX_BACKOFF);
    assert_eq!(backoff(u32::MAX), MAX_BACKOFF);
}

#[test]
fn emitter_is_shareable_and_its_debug_hides_the_key() {
    fn assert_send_sync<T: Send + Sync + Clone>() {}
    assert_send_sync::<Emitter>();
    let config = TransportConfig {
        url: Some("http://localhost:5000".to_owned()),
        api_key: Some("secret-key".to_owned()),
        ..TransportConfig::default()
    };
    assert!(!format!("{config:?}").contains("secret-key"));
    let emitter = Emitter::new(config);
    let shown = format!("{emitter:?}");
    assert!(
        shown.contains("http://localhost:5000/api/v1/lineage"),
        "{shown}"
    );
    assert!(!shown.contains("secret-key"), "{shown}");
}

#[tokio::test]
async fn emit_is_a_send_future() {
    fn assert_send<T: Send>(_: &T) {}
    let emitter = Emitter::disabled();
    let event = json!({});
    let future = emitter.emit(&event);
    assert_send(&future);
    future.await;
}

#[tokio::test]
async fn disabled_emitter_delivers_nothing() {
    let emitter = Emitter::disabled();
    assert!(!emitter.is_enabled());
    emitter.emit(&json!({"eventType": "START"})).await;
    assert_eq!(emitter.counts(), DeliveryCounts::default());
    let blank = Emitter::new(TransportConfig {
        url: Some("  ".to_owned()),
        file: Some(PathBuf::new()),
        ..TransportConfig::default()
    });
    assert!(!blank.is_enabled());
}

#[tokio::test]
async fn file_transport_appends_lines() {
    let dir = tempfile::tempdir().expect("temporary folder");
    let path = dir.path().join("lineage").join("2024").join("events.jsonl");
    let emitter = Emitter::new(TransportConfig {
        file: Some(path.clone()),
        ..TransportConfig::default()
    });
    assert!(emitter.is_enabled());
    let start = json!({"eventType": "START", "run": {"runId": "r1"}});
    let complete = json!({"eventType": "COMPLETE", "run": {"runId": "r1"}});
    emitter.emit(&start).await;
    emitter.clone().emit(&complete).await;
    let text = std::fs::read_to_string(&path).expect("events file");
    assert!(text.ends_with('\n'));
    let lines: Vec<Value> = text
        .lines()
        .map(|line| serde_json::from_str(line).expect("one event per line"))
        .collect();
    assert_eq!(lines, vec![start, complete]);
    let counts = DeliveryCounts {
        delivered: 2,
        failed: 0,
    };
    assert_eq!(emitter.counts(), counts);
}

#[tokio::test]
async fn refused_connection_counts_as_failed_after_retries() {
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        listener.local_addr().expect("local address").port()
    };
    let emitter = Emitter::new(TransportConfig {
        url: Some(format!("http://127.0.0.1:{port}")),
        retries: 1,
        timeout: Duration::from_millis(300),
        ..TransportConfig::default()
    });
    assert!(emitter.is_enabled());
    emitter
        .emit(&json!({"eventType": "START", "run": {"runId": "r1"}}))
        .await;
    let counts = DeliveryCounts {
        delivered: 0,
        failed: 1,
    };
    assert_eq!(emitter.counts(), counts);
}

#[tokio::test]
async fn unusable_url_fails_every_delivery() {
    let emitter = Emitter::new(TransportConfig {
        url: Some("ftp://example.org".to_owned()),
        ..TransportConfig::default()
    });
    assert!(emitter.is_enabled());
    emitter.emit(&json!({})).await;
    emitter.clone().emit(&json!({})).await;
    let counts = DeliveryCounts {
        delivered: 0,
        failed: 2,
    };
    assert_eq!(emitter.counts(), counts);
}
