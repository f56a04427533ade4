//! Alerts that reach people: a build that fails for real (a day with double charges stopped
//! by the quality gate) is told, by medlake serve's own evaluator, to a webhook in
//! Alertmanager's shape, DingTalk, Feishu and WeCom robots and a mailbox; the receivers are
//! a Python program that checks each payload and signature against the vendors' documented
//! schemes (scripts/alerts/receivers.py). A receiver that is down at first gets the message
//! on a retry; a rebuild resolves the alert and every receiver hears so; a silence set from
//! the web API holds the alert back until it ends.

use std::path::PathBuf;
use std::process::{Child, Command};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::common::{days, python, Sandbox};
use crate::serve::{csrf_of, http_request, json_body, login, shown_password, start_server, START};

const DINGTALK_SECRET: &str = "SECmedlake-test-dingtalk";
const FEISHU_SECRET: &str = "medlake-test-feishu";
const KINDS: [&str; 5] = ["webhook", "dingtalk", "feishu", "wecom", "email"];
/// The login of the mail server that requires STARTTLS and AUTH.
const SMTP_USER: &str = "medlake-alerts";
const SMTP_PASSWORD: &str = "test-only-smtp-password";

/// The Python receivers, killed when dropped.
pub(crate) struct Receivers {
    child: Child,
    records: PathBuf,
    pub(crate) http_port: u16,
    smtp_port: u16,
    /// The mail server that requires STARTTLS and AUTH (its certificate from `ca`).
    tls_smtp_port: u16,
    ca: Option<PathBuf>,
}

impl Drop for Receivers {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Receivers {
    /// Receivers whose webhook takes every message.
    pub(crate) fn start_plain(dir: &std::path::Path) -> Receivers {
        Receivers::start_failing(dir, 0)
    }

    /// Receivers whose webhook refuses the first message (a receiver that is down).
    fn start(dir: &std::path::Path) -> Receivers {
        Receivers::start_failing(dir, 1)
    }

    fn start_failing(dir: &std::path::Path, fail_first: u32) -> Receivers {
        let port_file = dir.join("receiver-ports");
        let records = dir.join("received.jsonl");
        let script = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../scripts/alerts/receivers.py"
        );
        let ca = crate::directory_logins::fixtures::TestCa::make(dir);
        let child = Command::new(python())
            .arg(script)
            .args([port_file.to_str().unwrap(), records.to_str().unwrap()])
            .args(["--smtp-cert", ca.cert.to_str().unwrap()])
            .args(["--smtp-key", ca.key.to_str().unwrap()])
            .args(["--smtp-user", SMTP_USER, "--smtp-password", SMTP_PASSWORD])
            .args([
                "--dingtalk-secret",
                DINGTALK_SECRET,
                "--feishu-secret",
                FEISHU_SECRET,
            ])
            .args(["--fail-first", &fail_first.to_string()])
            .spawn()
            .expect("python runs (scripts/services.sh installs aiosmtpd)");
        let mut receivers = Receivers {
            child,
            records,
            http_port: 0,
            smtp_port: 0,
            tls_smtp_port: 0,
            ca: Some(ca.ca),
        };
        for _ in 0..200 {
            if let Ok(text) = std::fs::read_to_string(&port_file) {
                let ports: Vec<u16> = text
                    .split_whitespace()
                    .filter_map(|p| p.parse().ok())
                    .collect();
                if let [http, smtp, tls_smtp] = ports[..] {
                    receivers.http_port = http;
                    receivers.smtp_port = smtp;
                    receivers.tls_smtp_port = tls_smtp;
                    return receivers;
                }
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        panic!("the test receivers did not start");
    }

    pub(crate) fn records(&self) -> Vec<Value> {
        std::fs::read_to_string(&self.records)
            .unwrap_or_default()
            .lines()
            .map(|l| serde_json::from_str(l).expect("a JSON line"))
            .collect()
    }

    /// Waits until every kind received a valid message saying `status`, after `skip`
    /// records; returns the records from `skip` on.
    fn wait_for(&self, skip: usize, status: &str) -> Vec<Value> {
        let deadline = Instant::now() + Duration::from_secs(120);
        loop {
            let records: Vec<Value> = self.records().into_iter().skip(skip).collect();
            for r in &records {
                assert!(
                    r["ok"] == true || r["reason"] == "refused on purpose",
                    "a receiver refused what it was sent: {r}"
                );
            }
            let told = |kind: &str| {
                records
                    .iter()
                    .any(|r| r["kind"] == kind && r["ok"] == true && says(r, status))
            };
            // The mail that went through STARTTLS and a login, to its own recipient.
            let secure = records.iter().any(|r| {
                r["kind"] == "email"
                    && says(r, status)
                    && r["body"]["starttls"] == true
                    && r["body"]["authenticated"] == true
                    && r["body"]["to"][0] == "dba@example.org"
            });
            if KINDS.iter().all(|k| told(k)) && secure {
                return records;
            }
            assert!(
                Instant::now() < deadline,
                "not every receiver was told {status}: {records:#?}"
            );
            std::thread::sleep(Duration::from_millis(250));
        }
    }
}

/// Whether a received message is a `status` (firing/resolved) message about the faulty day.
fn says(record: &Value, status: &str) -> bool {
    let body = &record["body"];
    let text = match record["kind"].as_str().unwrap_or("") {
        "webhook" => {
            return body["status"] == status
                && body["alerts"].as_array().is_some_and(|a| {
                    a.iter().any(|x| {
                        x["labels"]["alertname"] == "BuildFailed"
                            && x["labels"]["day"] == faulty_day()
                    })
                })
        }
        "dingtalk" => body["markdown"]["text"].as_str().unwrap_or(""),
        "feishu" => body["content"]["text"].as_str().unwrap_or(""),
        "wecom" => body["markdown"]["content"].as_str().unwrap_or(""),
        _ => body["subject"].as_str().unwrap_or(""),
    };
    let text = if record["kind"] == "email" {
        format!("{text}\n{}", body["text"].as_str().unwrap_or(""))
    } else {
        text.to_string()
    };
    text.to_uppercase().contains(&status.to_uppercase())
        && text.contains("BuildFailed")
        && text.contains(&faulty_day())
}

fn faulty_day() -> String {
    days(START, 3).pop().unwrap()
}

fn alerts_config(r: &Receivers) -> String {
    let base = format!("http://127.0.0.1:{}", r.http_port);
    format!(
        r#"[alerts]
evaluation_interval = "1s"
delivery_attempts = 4

[[alerts.receivers]]
name = "hook"
kind = "webhook"
url = "{base}/webhook"

[[alerts.receivers]]
name = "ding"
kind = "dingtalk"
url = "{base}/dingtalk?access_token=medlake-test-token"
secret = "{DINGTALK_SECRET}"

[[alerts.receivers]]
name = "lark"
kind = "feishu"
url = "{base}/feishu"
secret = "{FEISHU_SECRET}"

[[alerts.receivers]]
name = "wecom"
kind = "wecom"
url = "{base}/wecom?key=medlake-test-key"

[[alerts.receivers]]
name = "mail"
kind = "email"
smtp_host = "127.0.0.1"
smtp_port = {smtp}
starttls = false
from = "medlake <alerts@example.org>"
to = ["oncall@example.org"]

[[alerts.receivers]]
name = "secure-mail"
kind = "email"
smtp_host = "localhost"
smtp_port = {tls_smtp}
username = "{SMTP_USER}"
password_env = "MEDLAKE_TEST_SMTP_PASSWORD"
ca_file = "{ca}"
from = "medlake <alerts@example.org>"
to = ["dba@example.org"]

[[alerts.routes]]
matchers = {{ alertname = "BuildFailed" }}
receivers = ["hook", "ding", "lark", "wecom", "mail", "secure-mail"]
group_by = ["alertname", "day"]
group_wait = "1s"
group_interval = "1s"
repeat_interval = "1h"
"#,
        smtp = r.smtp_port,
        tls_smtp = r.tls_smtp_port,
        ca = r.ca.as_ref().unwrap().display()
    )
}

/// Two clean days built, and a third whose double charges fail its build's checks.
pub(crate) fn sandbox_with_a_failed_day() -> Sandbox {
    let sandbox = Sandbox::sqlite();
    sandbox.run(&[
        "simulate", "--days", "2", "--scale", "0.003", "--seed", "5", "--start", START,
    ]);
    for day in days(START, 2) {
        sandbox.run(&["sync", "--day", &day, "--no-reconcile"]);
        sandbox.run(&["build", "--day", &day]);
    }
    crate::quality::a_faulty_third_day(&sandbox);
    sandbox
}

fn build_faulty_day(sandbox: &Sandbox, extra: &[&str]) -> bool {
    let day = faulty_day();
    let mut args = vec!["build", "--day", day.as_str()];
    args.extend_from_slice(extra);
    sandbox
        .command(&args)
        .output()
        .expect("medlake starts")
        .status
        .success()
}

#[test]
fn a_failed_build_reaches_every_receiver_resolves_after_a_rebuild_and_a_silence_holds_it() {
    let sandbox = sandbox_with_a_failed_day();
    let receivers = Receivers::start(sandbox.dir.path());
    std::fs::write(
        sandbox.dir.path().join("medlake.toml"),
        alerts_config(&receivers),
    )
    .unwrap();
    let admin = shown_password(&sandbox.run(&["users", "add", "boss", "--role", "admin"]));
    let (mut server, http, _) =
        start_server(&sandbox, &[("MEDLAKE_TEST_SMTP_PASSWORD", SMTP_PASSWORD)]);

    // Firing: every receiver, the webhook on its second attempt (it refuses the first),
    // the second mailbox over STARTTLS with a login.
    let fired = receivers.wait_for(0, "firing");
    assert!(
        fired
            .iter()
            .any(|r| r["kind"] == "webhook" && r["reason"] == "refused on purpose"),
        "the webhook's first attempt was refused: {fired:#?}"
    );
    let cookie = login(&http, "boss", &admin).expect("the admin logs in");
    let (status, _, body) =
        http_request(&http, "GET", "/api/monitoring", &[("Cookie", &cookie)], "").unwrap();
    assert_eq!(status, 200, "{body}");
    let overview = json_body(&body);
    let firing = overview["monitor"]["alerts"].as_array().unwrap();
    assert!(
        firing
            .iter()
            .any(|a| a["rule"] == "BuildFailed" && a["state"] == "firing"),
        "{overview:#}"
    );
    let sent = overview["notifications"].as_array().unwrap();
    assert!(
        sent.iter()
            .any(|n| n["receiver"] == "hook" && n["delivered"] == true && n["attempts"] == 2),
        "{sent:#?}"
    );
    // /metrics carries the figure the rule read.
    let (status, _, metrics) = http_request(&http, "GET", "/metrics", &[], "").unwrap();
    assert_eq!(status, 200);
    assert!(
        metrics.contains(&format!(
            "medlake_build_day_failed{{day=\"{}\"}} 1",
            faulty_day()
        )),
        "{metrics}"
    );

    // Resolved: the day rebuilt past its checks succeeds; every receiver hears so.
    let seen = receivers.records().len();
    assert!(build_faulty_day(&sandbox, &["--skip-checks"]));
    receivers.wait_for(seen, "resolved");

    // Silenced from the web API: the day fails again, the alert fires, nobody is told.
    let csrf = csrf_of(&http, &cookie);
    let headers = [
        ("Cookie", cookie.as_str()),
        ("X-CSRF-Token", csrf.as_str()),
        ("Content-Type", "application/json"),
    ];
    let silence =
        r#"{"matchers": {"alertname": "BuildFailed"}, "hours": 1, "reason": "rebuilding by hand"}"#;
    let (status, _, body) =
        http_request(&http, "POST", "/api/monitoring/silences", &headers, silence).unwrap();
    assert_eq!(status, 201, "{body}");
    let id = json_body(&body)["id"].as_i64().unwrap();
    let seen = receivers.records().len();
    assert!(
        !build_faulty_day(&sandbox, &[]),
        "the faulty day fails its checks again"
    );
    let catalog = medlake_catalog::Catalog::open(&sandbox.dir.path().join("catalog.db")).unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    while !catalog
        .alert_events(10)
        .unwrap()
        .first()
        .is_some_and(|e| e.rule == "BuildFailed" && e.state == "firing")
    {
        assert!(Instant::now() < deadline, "the alert did not fire again");
        std::thread::sleep(Duration::from_millis(200));
    }
    std::thread::sleep(Duration::from_secs(5));
    assert_eq!(
        receivers.records().len(),
        seen,
        "a silenced alert was sent: {:#?}",
        receivers.records()
    );

    // The silence ends: the still firing alert is told.
    let path = format!("/api/monitoring/silences/{id}");
    let (status, _, body) = http_request(&http, "DELETE", &path, &headers, "").unwrap();
    assert_eq!(status, 200, "{body}");
    receivers.wait_for(seen, "firing");
    let _ = server.kill();
    let _ = server.wait();
}

/// A small ext4 volume in a file, loop-mounted at a folder; unmounted when dropped.
struct LoopVolume {
    mount: PathBuf,
}

impl LoopVolume {
    fn new(image: &std::path::Path, mount: &std::path::Path, megabytes: u32) -> LoopVolume {
        let run = |program: &str, args: &[&str]| {
            let out = Command::new(program)
                .args(args)
                .output()
                .unwrap_or_else(|e| panic!("{program}: {e}"));
            assert!(
                out.status.success(),
                "{program} {args:?}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        };
        std::fs::File::create(image)
            .unwrap()
            .set_len(u64::from(megabytes) << 20)
            .unwrap();
        run("mkfs.ext4", &["-q", "-F", image.to_str().unwrap()]);
        std::fs::create_dir_all(mount).unwrap();
        run(
            "mount",
            &[
                "-o",
                "loop",
                image.to_str().unwrap(),
                mount.to_str().unwrap(),
            ],
        );
        LoopVolume {
            mount: mount.to_path_buf(),
        }
    }

    /// The volume's size and free bytes, as `df` reads them.
    fn size_and_free(&self) -> (u64, u64) {
        let out = Command::new("df")
            .args(["-B1", "--output=size,avail"])
            .arg(&self.mount)
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        let numbers: Vec<u64> = text
            .lines()
            .nth(1)
            .unwrap()
            .split_whitespace()
            .map(|n| n.parse().unwrap())
            .collect();
        (numbers[0], numbers[1])
    }
}

impl Drop for LoopVolume {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.mount).status();
    }
}

/// Waits (at most `within`) for a webhook message about `alertname` with `status`.
pub(crate) fn wait_for_webhook(
    receivers: &Receivers,
    alertname: &str,
    status: &str,
    within: Duration,
) -> Value {
    let deadline = Instant::now() + within;
    loop {
        let found = receivers.records().into_iter().find(|r| {
            r["kind"] == "webhook"
                && r["ok"] == true
                && r["body"]["status"] == status
                && r["body"]["alerts"].as_array().is_some_and(|a| {
                    a.iter()
                        .any(|x| x["labels"]["alertname"] == alertname && x["status"] == status)
                })
        });
        if let Some(found) = found {
            return found;
        }
        assert!(
            Instant::now() < deadline,
            "no {status} {alertname}: {:#?}",
            receivers.records()
        );
        std::thread::sleep(Duration::from_millis(250));
    }
}

#[test]
fn a_lake_volume_filled_past_85_percent_alerts_and_resolves_when_freed() {
    let sandbox = Sandbox::sqlite();
    let volume = LoopVolume::new(
        &sandbox.dir.path().join("lake.img"),
        &sandbox.lake_path(),
        32,
    );
    let receivers = Receivers::start_plain(sandbox.dir.path());
    std::fs::write(
        sandbox.dir.path().join("medlake.toml"),
        format!(
            "[alerts]\nevaluation_interval = \"1s\"\n\n[[alerts.receivers]]\nname = \"hook\"\nkind = \"webhook\"\n\
             url = \"http://127.0.0.1:{}/webhook\"\n\n[[alerts.routes]]\nmatchers = {{ alertname = \"VolumeAlmostFull\" }}\n\
             receivers = [\"hook\"]\ngroup_wait = \"1s\"\ngroup_interval = \"1s\"\n",
            receivers.http_port
        ),
    )
    .unwrap();
    let (mut server, http, _) = start_server(&sandbox, &[]);
    // Filled to 90%: the alert names the lake's volume and its mount.
    let (size, free) = volume.size_and_free();
    let filler = sandbox.lake_path().join("filler");
    let fill = free.saturating_sub(size / 10);
    std::fs::write(&filler, vec![0u8; fill as usize]).unwrap();
    let fired = wait_for_webhook(
        &receivers,
        "VolumeAlmostFull",
        "firing",
        Duration::from_secs(120),
    );
    let alert = &fired["body"]["alerts"][0];
    assert_eq!(alert["labels"]["volume"], "lake", "{fired:#}");
    assert_eq!(
        alert["labels"]["mount"],
        volume.mount.to_str().unwrap(),
        "{fired:#}"
    );
    let (_, _, metrics) = http_request(&http, "GET", "/metrics", &[], "").unwrap();
    assert!(
        metrics.contains("medlake_volume_used_ratio{mount="),
        "{metrics}"
    );
    // Freed: resolved.
    std::fs::remove_file(&filler).unwrap();
    wait_for_webhook(
        &receivers,
        "VolumeAlmostFull",
        "resolved",
        Duration::from_secs(120),
    );
    let _ = server.kill();
    let _ = server.wait();
}
