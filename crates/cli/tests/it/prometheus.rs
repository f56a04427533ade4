//! medlake beside a real Prometheus and Alertmanager (Debian's packages, installed by
//! scripts/services.sh): the exported rule file passes `promtool check rules`; Prometheus
//! scrapes `medlake serve`'s `/metrics`, evaluates the exported rules and fires to
//! Alertmanager, which posts to a webhook; medlake's own evaluator fires the same alert, no
//! later than one evaluation interval after Prometheus does.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::alerts::Receivers;
use crate::common::days;
use crate::serve::{http_request, json_body, start_server, START};

/// Seconds between Prometheus' scrapes and rule evaluations, and medlake's evaluations.
const INTERVAL_SECONDS: i64 = 2;

/// A program of the test's, killed when dropped.
struct Daemon(Child);

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_addr() -> String {
    let probe = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    probe.local_addr().unwrap().to_string()
}

/// A Debian program, or the test fails saying how to get it.
fn program(name: &str) -> PathBuf {
    let path = Path::new("/usr/bin").join(name);
    assert!(path.is_file(), "{} is missing: scripts/services.sh installs Debian's prometheus and prometheus-alertmanager", path.display());
    path
}

fn spawn(program: PathBuf, args: &[String], log: &Path) -> Daemon {
    let log = std::fs::File::create(log).unwrap();
    Daemon(
        Command::new(program)
            .args(args)
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("the daemon starts"),
    )
}

fn wait_ready(addr: &str, path: &str, what: &str, log: &Path) {
    for _ in 0..300 {
        if http_request(addr, "GET", path, &[], "").is_some_and(|(s, _, _)| s == 200) {
            return;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!(
        "{what} did not come up:\n{}",
        std::fs::read_to_string(log).unwrap_or_default()
    );
}

#[test]
fn prometheus_and_alertmanager_fire_the_exported_rules_as_medlake_does() {
    let sandbox = crate::alerts::sandbox_with_a_failed_day();
    let dir = sandbox.dir.path().to_path_buf();
    let faulty = days(START, 3).pop().unwrap();
    std::fs::write(
        dir.join("medlake.toml"),
        format!("[alerts]\nevaluation_interval = \"{INTERVAL_SECONDS}s\"\n"),
    )
    .unwrap();

    // The exported rules load in Prometheus' own checker.
    let rules = dir.join("medlake-rules.yml");
    sandbox.run(&[
        "alerts",
        "export",
        "--prometheus",
        "-o",
        rules.to_str().unwrap(),
    ]);
    let checked = Command::new(program("promtool"))
        .args(["check", "rules"])
        .arg(&rules)
        .output()
        .unwrap();
    assert!(
        checked.status.success(),
        "promtool refused the exported rules:\n{}{}",
        String::from_utf8_lossy(&checked.stdout),
        String::from_utf8_lossy(&checked.stderr)
    );

    let receivers = Receivers::start_plain(&dir);
    let (mut server, http, _) = start_server(&sandbox, &[]);

    let am_addr = free_addr();
    std::fs::write(
        dir.join("alertmanager.yml"),
        format!(
            "route:\n  receiver: hook\n  group_by: [alertname, day]\n  group_wait: 1s\n  group_interval: 1s\n  repeat_interval: 1h\n\
             receivers:\n  - name: hook\n    webhook_configs:\n      - url: http://127.0.0.1:{}/webhook\n        send_resolved: true\n",
            receivers.http_port
        ),
    )
    .unwrap();
    let am_log = dir.join("alertmanager.log");
    let _alertmanager = spawn(
        program("prometheus-alertmanager"),
        &[
            format!("--config.file={}", dir.join("alertmanager.yml").display()),
            format!("--storage.path={}", dir.join("am-data").display()),
            format!("--web.listen-address={am_addr}"),
            "--cluster.listen-address=".into(),
        ],
        &am_log,
    );
    wait_ready(&am_addr, "/-/ready", "Alertmanager", &am_log);

    let prom_addr = free_addr();
    std::fs::write(
        dir.join("prometheus.yml"),
        format!(
            "global:\n  scrape_interval: {INTERVAL_SECONDS}s\n  evaluation_interval: {INTERVAL_SECONDS}s\n\
             rule_files:\n  - {rules}\n\
             alerting:\n  alertmanagers:\n    - static_configs:\n        - targets: ['{am_addr}']\n\
             scrape_configs:\n  - job_name: medlake\n    static_configs:\n      - targets: ['{http}']\n",
            rules = rules.display()
        ),
    )
    .unwrap();
    let prom_log = dir.join("prometheus.log");
    let _prometheus = spawn(
        program("prometheus"),
        &[
            format!("--config.file={}", dir.join("prometheus.yml").display()),
            format!("--storage.tsdb.path={}", dir.join("prom-data").display()),
            format!("--web.listen-address={prom_addr}"),
        ],
        &prom_log,
    );
    wait_ready(&prom_addr, "/-/ready", "Prometheus", &prom_log);

    // Alertmanager posts Prometheus' BuildFailed for the faulty day to the webhook.
    let deadline = Instant::now() + Duration::from_secs(180);
    loop {
        let told = receivers.records().into_iter().any(|r| {
            r["kind"] == "webhook"
                && r["ok"] == true
                && r["body"]["status"] == "firing"
                && r["body"]["alerts"].as_array().is_some_and(|a| {
                    a.iter().any(|x| {
                        x["labels"]["alertname"] == "BuildFailed" && x["labels"]["day"] == faulty
                    })
                })
        });
        if told {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "Alertmanager posted no BuildFailed:\n{:#?}\n{}",
            receivers.records(),
            std::fs::read_to_string(&prom_log).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(250));
    }

    // Prometheus' firing time against medlake's own.
    let (_, _, body) = http_request(&prom_addr, "GET", "/api/v1/alerts", &[], "").unwrap();
    let alerts = json_body(&body);
    let prom_active = alerts["data"]["alerts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| {
            a["labels"]["alertname"] == "BuildFailed" && a["labels"]["day"] == faulty.as_str()
        })
        .and_then(|a| a["activeAt"].as_str())
        .map(|t| {
            chrono::DateTime::parse_from_rfc3339(t)
                .unwrap()
                .with_timezone(&chrono::Utc)
        })
        .unwrap_or_else(|| panic!("Prometheus has no BuildFailed alert: {alerts:#}"));
    let catalog = medlake_catalog::Catalog::open(&dir.join("catalog.db")).unwrap();
    let ours = catalog
        .alert_events(100)
        .unwrap()
        .into_iter()
        .find(|e| e.rule == "BuildFailed" && e.state == "firing" && e.labels.contains(&faulty))
        .expect("medlake fired BuildFailed too");
    assert!(
        ours.starts_at <= prom_active + chrono::Duration::seconds(INTERVAL_SECONDS),
        "medlake fired at {}, Prometheus at {prom_active}",
        ours.starts_at
    );
    let _ = server.kill();
    let _ = server.wait();
}
