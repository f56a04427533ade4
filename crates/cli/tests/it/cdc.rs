//! Change capture from the binlog of a real MariaDB (MEDLAKE_TEST_BINLOG_URL, started by
//! scripts/services.sh): it lands the same rows as the query-based sync, survives being
//! killed at random moments with nothing lost or doubled, and rides through DDL.

use std::collections::{BTreeMap, BTreeSet};

use crate::common;
use crate::common::{
    assert_same, days, lake_latest_rows, row_strings, source_rows, Sandbox, TempDatabase,
};
use deltalake::arrow::array::RecordBatch;
use medlake_lake::Lake;
use mysql_async::prelude::Queryable;

const START: &str = "2026-04-01";

pub(crate) async fn binlog_server() -> String {
    let url = common::mysql_server("MEDLAKE_TEST_BINLOG_URL").await;
    let pool = mysql_async::Pool::new(url.as_str());
    let mut conn = pool.get_conn().await.unwrap();
    let format: Option<(String, String)> = conn
        .query_first("SELECT @@binlog_format, @@binlog_row_image")
        .await
        .unwrap();
    assert_eq!(
        format,
        Some(("ROW".to_string(), "FULL".to_string())),
        "{url} (MEDLAKE_TEST_BINLOG_URL) does not log full row images: start it with scripts/services.sh"
    );
    drop(conn);
    pool.disconnect().await.unwrap();
    url
}

/// Simulates one more day (the first call also loads the population).
pub(crate) fn simulate_day(sandbox: &Sandbox) {
    sandbox.run(&[
        "simulate", "--days", "1", "--scale", "0.002", "--seed", "5", "--start", START,
    ]);
}

fn changing_tables() -> impl Iterator<Item = &'static medlake_schema::Table> {
    medlake_schema::business_tables()
        .iter()
        .filter(|t| t.changes)
}

pub(crate) async fn query(lake: &Lake, table: &str, sql: &str) -> Vec<String> {
    let ctx = deltalake::datafusion::prelude::SessionContext::new();
    lake.register(&ctx, table).await.expect("register");
    let batches: Vec<RecordBatch> = ctx
        .sql(sql)
        .await
        .expect("plan")
        .collect()
        .await
        .expect("run");
    batches.iter().flat_map(row_strings).collect()
}

/// Every change record of every changing table as `table|type|data` lines, sorted: two
/// captures of the same binlog stretch must give the same multiset.
async fn all_changes(lake: &Lake) -> Vec<String> {
    let mut out = Vec::new();
    for t in changing_tables() {
        let name = t.ods_inc_name();
        let sql = format!("SELECT '{}', type, data, data_extra FROM {name}", t.name);
        out.extend(query(lake, &name, &sql).await);
    }
    out.sort();
    out
}

#[tokio::test(flavor = "multi_thread")]
async fn binlog_capture_lands_the_same_rows_as_the_query_sync() {
    let server = binlog_server().await;
    let db = TempDatabase::new(&server, "cdc_same");
    let cdc = Sandbox::with_business(&db.url());
    let sync = Sandbox::with_business(&db.url());
    let events = cdc.dir.path().join("openlineage.jsonl");
    let lineage_file = [("MEDLAKE_LINEAGE_FILE", events.to_str().unwrap())];
    simulate_day(&cdc);
    cdc.run_env(&["cdc", "--once"], &lineage_file);
    simulate_day(&cdc);
    cdc.run_env(&["cdc", "--once"], &lineage_file);
    crate::lineage::capture_runs_send_valid_events(&events, 2);
    for day in days(START, 2) {
        sync.run(&["sync", "--day", &day, "--only", "inc"]);
    }
    let (cdc_lake, sync_lake) = (cdc.lake(), sync.lake());
    for table in changing_tables() {
        let source = source_rows(&db.url(), table).await;
        assert!(!source.is_empty(), "{} is empty", table.name);
        let by_binlog = lake_latest_rows(&cdc_lake, table).await;
        let by_query = lake_latest_rows(&sync_lake, table).await;
        assert_same(
            format!("binlog {}", table.ods_inc_name()),
            &source,
            &by_binlog,
        );
        assert_same(
            format!("query {}", table.ods_inc_name()),
            &by_query,
            &by_binlog,
        );
    }
    // The binlog sees every step of a life cycle, with the previous values of what changed.
    let name = "ods_consultation_inc";
    let counts = query(
        &cdc_lake,
        name,
        &format!(
            "SELECT count(*), count(old), count(position), count(xid) FROM {name} WHERE type = 'update'"
        ),
    )
    .await;
    let fields: Vec<u64> = counts[0].split('|').map(|c| c.parse().unwrap()).collect();
    assert!(fields[0] > 0, "no updates captured");
    assert!(
        fields.iter().all(|&c| c == fields[0]),
        "updates without old/position/xid: {fields:?}"
    );
    let sync_records = query(&sync_lake, name, &format!("SELECT count(*) FROM {name}")).await;
    let cdc_records = query(&cdc_lake, name, &format!("SELECT count(*) FROM {name}")).await;
    assert!(
        cdc_records[0].parse::<u64>().unwrap() > sync_records[0].parse::<u64>().unwrap(),
        "the binlog should see more steps than the query sync"
    );
    // Stream records belong to the local day of their update_time.
    let wrong = query(
        &cdc_lake,
        name,
        &format!(
            "SELECT count(*) FROM {name} WHERE type <> 'bootstrap-insert' \
             AND dt <> CAST(CAST(get_field(data, 'update_time') AS DATE) AS VARCHAR)"
        ),
    )
    .await;
    assert_eq!(wrong, vec!["0"], "records outside their event day");
}

#[tokio::test(flavor = "multi_thread")]
async fn cdc_killed_at_random_moments_loses_and_doubles_nothing() {
    let server = binlog_server().await;
    let db = TempDatabase::new(&server, "cdc_crash");
    let killed = Sandbox::with_business(&db.url());
    let reference = Sandbox::with_business(&db.url());
    simulate_day(&killed);
    // Both bootstrap from the same state; then the day is captured while it is written,
    // by a capture killed (SIGKILL) again and again, and by one that runs once at the end.
    killed.run(&["cdc", "--once"]);
    reference.run(&["cdc", "--once"]);
    kill_while_simulating(&killed, 12, &[&["cdc"]], &SMALL_FLUSHES);
    killed.run_env(&["cdc", "--once"], &SMALL_FLUSHES);
    reference.run(&["cdc", "--once"]);
    assert_lake_matches(&db, &killed.lake(), &reference.lake()).await;
    // The runs the kills cut short are not left `running`: the next run marked them.
    let runs = String::from_utf8(killed.run(&["runs", "--limit", "100"]).stdout).unwrap();
    assert!(!runs.contains("running/interrupted"), "{runs}");
    assert!(runs.contains("ended without a record"), "{runs}");
}

/// The lake of a capture that was killed again and again equals the source, id by id,
/// and holds the same change records as `reference`'s (one uninterrupted capture of the
/// same binlog stretch), none twice.
async fn assert_lake_matches(db: &TempDatabase, killed: &Lake, reference: &Lake) {
    for table in changing_tables() {
        let source = source_rows(&db.url(), table).await;
        let lake = lake_latest_rows(killed, table).await;
        assert_same(table.ods_inc_name(), &source, &lake);
    }
    let a = all_changes(killed).await;
    let b = all_changes(reference).await;
    assert_eq!(
        a.len(),
        b.len(),
        "change records: killed capture vs one run"
    );
    let doubled: BTreeSet<_> = a
        .windows(2)
        .filter(|w| w[0] == w[1])
        .map(|w| &w[0])
        .collect();
    assert!(doubled.is_empty(), "{} change records twice", doubled.len());
    assert!(
        a == b,
        "the killed capture's change records differ from one run's"
    );
}

/// Capture settings of the crash tests: small flushes, so many commits to be killed in.
const SMALL_FLUSHES: [(&str, &str); 2] = [
    ("MEDLAKE_CDC_BATCH_ROWS", "40"),
    ("MEDLAKE_CDC_FLUSH_MS", "50"),
];

/// Simulates one more day in the background while each of `commands` (following medlake
/// commands) is started and killed with SIGKILL at its own random moment, round after
/// round, at least `rounds` times and until the day is written.
fn kill_while_simulating(
    sandbox: &Sandbox,
    rounds: u32,
    commands: &[&[&str]],
    envs: &[(&str, &str)],
) {
    let mut sim = sandbox
        .command(&[
            "simulate", "--days", "1", "--scale", "0.002", "--seed", "5", "--start", START,
        ])
        .stdout(std::process::Stdio::null())
        .spawn()
        .expect("simulate starts");
    let mut rng: u64 = 0x2545_f491_4f6c_dd1d;
    let mut next_delay = || {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        std::time::Duration::from_millis(100 + rng % 1200)
    };
    let (mut kills, mut round) = (0, 0);
    loop {
        if sim.try_wait().unwrap().is_some() && round >= rounds {
            break;
        }
        round += 1;
        let started = std::time::Instant::now();
        let mut children: Vec<_> = commands
            .iter()
            .map(|args| (next_delay(), sandbox.spawn(args, envs)))
            .collect();
        children.sort_by_key(|(delay, _)| *delay);
        for (delay, child) in &mut children {
            std::thread::sleep(delay.saturating_sub(started.elapsed()));
            if child.try_wait().unwrap().is_none() {
                child.kill().unwrap();
                kills += 1;
            }
            child.wait().unwrap();
        }
    }
    assert!(sim.wait().unwrap().success(), "simulation failed");
    let launched = round * commands.len() as u32;
    assert!(
        kills >= launched * 3 / 4,
        "only {kills} of {launched} runs were killed mid-way; the test proved little"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn cdc_killed_from_its_bootstrap_on_lands_each_row_once() {
    let server = binlog_server().await;
    let db = TempDatabase::new(&server, "cdc_boot");
    let sandbox = Sandbox::with_business(&db.url());
    simulate_day(&sandbox);
    // No capture yet: the first kills fall in the bootstrap, while the next day is written.
    kill_while_simulating(&sandbox, 10, &[&["cdc"]], &SMALL_FLUSHES);
    sandbox.run_env(&["cdc", "--once"], &SMALL_FLUSHES);
    let lake = sandbox.lake();
    for table in changing_tables() {
        let source = source_rows(&db.url(), table).await;
        // lake_latest_rows fails on any change (id, update_time) recorded twice.
        assert_same(
            table.ods_inc_name(),
            &source,
            &lake_latest_rows(&lake, table).await,
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_column_added_mid_day_is_captured_without_a_stop() {
    let server = binlog_server().await;
    let db = TempDatabase::new(&server, "cdc_ddl");
    let sandbox = Sandbox::with_business(&db.url());
    simulate_day(&sandbox);
    sandbox.run(&["cdc", "--once"]);
    let maxwell = Sandbox::with_business(&db.url());
    maxwell.run(&["cdc", "--once", "--to", "maxwell"]);
    let pool = mysql_async::Pool::new(db.url().as_str());
    let mut conn = pool.get_conn().await.unwrap();
    conn.query_drop("ALTER TABLE consultation ADD COLUMN channel VARCHAR(16) NULL AFTER status")
        .await
        .unwrap();
    // A statement capture does not understand is logged and skipped.
    conn.query_drop("ANALYZE TABLE consultation").await.unwrap();
    simulate_day(&sandbox);
    let marked: Vec<i64> = conn
        .query("SELECT id FROM consultation ORDER BY id DESC LIMIT 5")
        .await
        .unwrap();
    conn.query_drop(format!(
        "UPDATE consultation SET channel = 'app', \
         update_time = update_time + INTERVAL 1 MICROSECOND WHERE id IN ({})",
        marked
            .iter()
            .map(i64::to_string)
            .collect::<Vec<_>>()
            .join(",")
    ))
    .await
    .unwrap();
    drop(conn);
    pool.disconnect().await.unwrap();
    sandbox.run(&["cdc", "--once"]);

    let lake = sandbox.lake();
    let table = medlake_schema::table("consultation").unwrap();
    let source = source_rows(&db.url(), table).await;
    assert_same(
        table.ods_inc_name(),
        &source,
        &lake_latest_rows(&lake, table).await,
    );
    let name = table.ods_inc_name();
    let with_channel = query(
        &lake,
        &name,
        &format!(
            "SELECT count(*) FROM {name} WHERE data_extra LIKE '%\"channel\":\"app\"%' \
             AND old LIKE '%\"channel\":null%'"
        ),
    )
    .await;
    assert_eq!(with_channel, vec![marked.len().to_string()]);
    let after_ddl = query(
        &lake,
        &name,
        &format!(
            "SELECT count(*) FROM {name} WHERE type <> 'bootstrap-insert' AND data_extra IS NULL \
             AND get_field(data, 'id') IN (SELECT get_field(data, 'id') FROM {name} \
             WHERE data_extra IS NOT NULL AND type = 'insert')"
        ),
    )
    .await;
    assert_eq!(
        after_ddl,
        vec!["0"],
        "rows inserted after the DDL lack the column"
    );

    // Maxwell JSON lines: the updates after the DDL carry the new column in data, and old
    // holds only what changed.
    let out = maxwell.run(&["cdc", "--once", "--to", "maxwell"]);
    let lines: Vec<serde_json::Value> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).expect("a JSON line"))
        .collect();
    let marked_updates: Vec<&serde_json::Value> = lines
        .iter()
        .filter(|l| l["table"] == "consultation" && l["data"]["channel"] == "app")
        .collect();
    assert_eq!(marked_updates.len(), marked.len());
    for l in marked_updates {
        assert_eq!(l["type"], "update");
        assert_eq!(l["database"], db.name.as_str());
        let old: BTreeMap<String, serde_json::Value> =
            serde_json::from_value(l["old"].clone()).unwrap();
        assert_eq!(
            old.keys().map(String::as_str).collect::<Vec<_>>(),
            vec!["channel", "update_time"]
        );
        assert!(l["position"].as_str().unwrap().contains(':'));
        assert!(l["xid"].as_u64().is_some());
    }
    assert!(
        !lines.iter().any(|l| l["type"] == "bootstrap-insert"),
        "the second run bootstrapped again instead of resuming"
    );
}

/// `medlake` settings that publish to and land from the test broker, with small flushes.
pub(crate) fn kafka_env(brokers: &str) -> [(&str, &str); 3] {
    [
        ("MEDLAKE_CDC_KAFKA_BROKERS", brokers),
        SMALL_FLUSHES[0],
        SMALL_FLUSHES[1],
    ]
}

/// Publishes the binlog to Kafka up to its current end, then lands the topics up to theirs.
pub(crate) fn publish_and_land(sandbox: &Sandbox, env: &[(&str, &str)]) {
    sandbox.run_env(&["cdc", "--once", "--to", "kafka"], env);
    sandbox.run_env(&["cdc", "land", "--once"], env);
}

#[tokio::test(flavor = "multi_thread")]
async fn binlog_through_kafka_lands_what_direct_capture_lands() {
    let server = binlog_server().await;
    let brokers = common::kafka_brokers();
    let env = kafka_env(&brokers);
    let db = TempDatabase::new(&server, "cdc_kafka");
    let via_kafka = Sandbox::with_business(&db.url());
    let direct = Sandbox::with_business(&db.url());
    for _ in 0..2 {
        simulate_day(&via_kafka);
        publish_and_land(&via_kafka, &env);
        direct.run(&["cdc", "--once"]);
    }
    let (kafka_lake, direct_lake) = (via_kafka.lake(), direct.lake());
    for table in changing_tables() {
        let source = source_rows(&db.url(), table).await;
        assert!(!source.is_empty(), "{} is empty", table.name);
        assert_same(
            format!("via kafka {}", table.ods_inc_name()),
            &source,
            &lake_latest_rows(&kafka_lake, table).await,
        );
    }
    let a = all_changes(&kafka_lake).await;
    assert!(
        a == all_changes(&direct_lake).await,
        "change records through Kafka differ from direct capture's"
    );

    // A Maxwell consumer reads the topic unchanged: kafka-python, from the beginning.
    let topic = format!("{}.consultation", db.name);
    let consumer = std::process::Command::new(common::python())
        .args(["-c", MAXWELL_CONSUMER, &brokers, &topic])
        .output()
        .expect("python starts");
    assert!(
        consumer.status.success(),
        "kafka-python consumer failed: {}",
        String::from_utf8_lossy(&consumer.stderr)
    );
    let kinds: BTreeMap<String, u64> = serde_json::from_slice(&consumer.stdout).unwrap();
    let name = "ods_consultation_inc";
    let landed = query(
        &kafka_lake,
        name,
        &format!("SELECT type, count(*) FROM {name} GROUP BY type ORDER BY type"),
    )
    .await;
    let landed: BTreeMap<String, u64> = landed
        .iter()
        .map(|l| {
            let (kind, n) = l.split_once('|').unwrap();
            (kind.to_string(), n.parse().unwrap())
        })
        .collect();
    let mut expected = landed.clone();
    expected.insert("bootstrap-start".into(), 1);
    expected.insert("bootstrap-complete".into(), 1);
    assert_eq!(
        kinds, expected,
        "messages by type in {topic} vs rows landed"
    );
}

/// Reads a topic from its start to its current end with kafka-python, checks each message
/// is Maxwell's JSON with Maxwell's key, and prints the count of messages by type.
const MAXWELL_CONSUMER: &str = r#"
import json, sys
from kafka import KafkaConsumer, TopicPartition
brokers, topic = sys.argv[1], sys.argv[2]
consumer = KafkaConsumer(bootstrap_servers=brokers, enable_auto_commit=False)
tp = TopicPartition(topic, 0)
consumer.assign([tp])
consumer.seek_to_beginning(tp)
end = consumer.end_offsets([tp])[tp]
kinds = {}
while consumer.position(tp) < end:
    for message in consumer.poll(timeout_ms=5000).get(tp, []):
        value = json.loads(message.value)
        for field in ("database", "table", "type", "ts", "data"):
            assert field in value, field
        if not value["type"].startswith("bootstrap-") or value["type"] == "bootstrap-insert":
            key = json.loads(message.key)
            assert key["pk.id"] == value["data"]["id"] == value["primary_key"][0], key
            assert key["table"] == value["table"] == "consultation"
        if value["type"] == "update":
            assert isinstance(value["old"], dict) and value["old"], "update without old"
        kinds[value["type"]] = kinds.get(value["type"], 0) + 1
print(json.dumps(kinds))
"#;

#[tokio::test(flavor = "multi_thread")]
async fn kafka_reader_and_lander_killed_at_random_moments_lose_and_double_nothing() {
    let server = binlog_server().await;
    let brokers = common::kafka_brokers();
    let env = kafka_env(&brokers);
    let db = TempDatabase::new(&server, "cdc_kcrash");
    let killed = Sandbox::with_business(&db.url());
    let reference = Sandbox::with_business(&db.url());
    simulate_day(&killed);
    // Both bootstrap from the same state; then the day is captured while it is written,
    // through Kafka by a reader and a lander each killed (SIGKILL) at random moments, and
    // directly by one capture that runs once at the end.
    publish_and_land(&killed, &env);
    reference.run(&["cdc", "--once"]);
    kill_while_simulating(
        &killed,
        12,
        &[&["cdc", "--to", "kafka"], &["cdc", "land"]],
        &env,
    );
    publish_and_land(&killed, &env);
    reference.run(&["cdc", "--once"]);
    assert_lake_matches(&db, &killed.lake(), &reference.lake()).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn kafka_reader_and_lander_killed_from_the_bootstrap_on_land_each_row_once() {
    let server = binlog_server().await;
    let brokers = common::kafka_brokers();
    let env = kafka_env(&brokers);
    let db = TempDatabase::new(&server, "cdc_kboot");
    let sandbox = Sandbox::with_business(&db.url());
    simulate_day(&sandbox);
    // No capture yet: the first kills fall in the bootstraps of the reader and the lander.
    kill_while_simulating(
        &sandbox,
        10,
        &[&["cdc", "--to", "kafka"], &["cdc", "land"]],
        &env,
    );
    publish_and_land(&sandbox, &env);
    let lake = sandbox.lake();
    for table in changing_tables() {
        let source = source_rows(&db.url(), table).await;
        // lake_latest_rows fails on any change (id, update_time) recorded twice.
        assert_same(
            table.ods_inc_name(),
            &source,
            &lake_latest_rows(&lake, table).await,
        );
    }
}

/// One scrape of a Prometheus endpoint: the body, or `None` while nothing listens.
async fn scrape(addr: &str) -> Option<String> {
    let client = reqwest::Client::builder()
        .timeout(std::time::Duration::from_secs(10))
        .build()
        .ok()?;
    let response = client
        .get(format!("http://{addr}/metrics"))
        .send()
        .await
        .ok()?;
    if !response.status().is_success() {
        return None;
    }
    response.text().await.ok()
}

/// The value of `name` (with any labels) in a scrape.
fn figure(body: &str, name: &str) -> Option<f64> {
    body.lines()
        .find(|l| l.starts_with(name) && !l.starts_with('#'))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
}

#[tokio::test(flavor = "multi_thread")]
async fn capture_serves_its_figures_to_prometheus() {
    let server = binlog_server().await;
    let db = TempDatabase::new(&server, "cdc_metrics");
    let sandbox = Sandbox::with_business(&db.url());
    simulate_day(&sandbox);
    sandbox.run(&["cdc", "--once"]);
    let addr = {
        let probe = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        probe.local_addr().unwrap().to_string()
    };
    let mut capture = sandbox.spawn(&["cdc", "--metrics", &addr], &SMALL_FLUSHES);
    simulate_day(&sandbox);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
    let mut last = String::new();
    while std::time::Instant::now() < deadline {
        if let Some(body) = scrape(&addr).await {
            last = body;
            if figure(&last, "medlake_cdc_changes_total").unwrap_or(0.0) > 0.0 {
                break;
            }
        }
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    capture.kill().unwrap();
    capture.wait().unwrap();
    assert!(
        figure(&last, "medlake_cdc_changes_total").unwrap_or(0.0) > 0.0,
        "no captured changes on the metrics endpoint:\n{last}"
    );
    for name in [
        "medlake_cdc_transactions_total",
        "medlake_cdc_commits_total",
        "medlake_cdc_lag_seconds",
        "medlake_cdc_binlog_offset",
    ] {
        assert!(figure(&last, name).is_some(), "{name} missing:\n{last}");
    }
    assert!(
        last.contains("# TYPE medlake_cdc_changes_total counter"),
        "{last}"
    );
}
