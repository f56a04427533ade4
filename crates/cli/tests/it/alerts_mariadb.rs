//! A real fault of the business database: a MariaDB of the test's own (with a row-based
//! binlog, captured by `medlake cdc`) is stopped while `medlake serve` watches it. The
//! database-down alert fires at once and the capture-lag alert once capture has not been
//! caught up for over a minute, both at a webhook; the database started again resolves
//! the first, and capture catching up with the restarted server's binlog resolves the
//! second, each with a resolved message.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use crate::alerts::{wait_for_webhook, Receivers};
use crate::common::Sandbox;
use crate::serve::{start_server, START};

/// A MariaDB server of this test's, in a temporary folder, on a free port.
struct PrivateMariaDb {
    dir: PathBuf,
    port: u16,
    server: Option<Child>,
}

impl PrivateMariaDb {
    fn new(dir: &Path) -> PrivateMariaDb {
        let data = dir.join("data");
        let out = Command::new("mariadb-install-db")
            .args([
                "--no-defaults",
                "--auth-root-authentication-method=normal",
                "--skip-test-db",
            ])
            .arg(format!("--user={}", whoami()))
            .arg(format!("--datadir={}", data.display()))
            .output()
            .expect("mariadb-install-db runs");
        assert!(
            out.status.success(),
            "mariadb-install-db: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let mut db = PrivateMariaDb {
            dir: dir.to_path_buf(),
            port,
            server: None,
        };
        db.start();
        db.sql("CREATE DATABASE business");
        db
    }

    fn url(&self) -> String {
        format!("mysql://root@127.0.0.1:{}/business", self.port)
    }

    fn start(&mut self) {
        let d = &self.dir;
        let child = Command::new("/usr/sbin/mariadbd")
            .arg("--no-defaults")
            .arg(format!("--user={}", whoami()))
            .arg(format!("--datadir={}", d.join("data").display()))
            .arg(format!("--port={}", self.port))
            .arg("--bind-address=127.0.0.1")
            .arg(format!("--socket={}", d.join("mysqld.sock").display()))
            .arg(format!("--pid-file={}", d.join("mysqld.pid").display()))
            .arg(format!("--log-error={}", d.join("error.log").display()))
            .arg(format!("--log-bin={}", d.join("data/binlog").display()))
            .args([
                "--server-id=7",
                "--binlog-format=ROW",
                "--binlog-row-image=FULL",
                "--binlog-row-metadata=FULL",
            ])
            .args(["--innodb-buffer-pool-size=64M", "--skip-name-resolve"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("mariadbd starts");
        self.server = Some(child);
        for _ in 0..300 {
            if self.ping() {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        panic!(
            "the test's MariaDB did not come up: {}",
            std::fs::read_to_string(d.join("error.log")).unwrap_or_default()
        );
    }

    /// Stops the server (as its service would on a shutdown) and waits for it to end.
    fn stop(&mut self) {
        if let Some(mut child) = self.server.take() {
            let _ = Command::new("kill")
                .args(["-TERM", &child.id().to_string()])
                .status();
            let _ = child.wait();
        }
    }

    fn ping(&self) -> bool {
        Command::new("mariadb-admin")
            .args([
                "--protocol=tcp",
                "-h",
                "127.0.0.1",
                "-P",
                &self.port.to_string(),
                "-u",
                "root",
                "ping",
            ])
            .output()
            .is_ok_and(|o| o.status.success())
    }

    fn sql(&self, statement: &str) {
        let out = Command::new("mariadb")
            .args([
                "--protocol=tcp",
                "-h",
                "127.0.0.1",
                "-P",
                &self.port.to_string(),
                "-u",
                "root",
                "-e",
                statement,
            ])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{statement}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

impl Drop for PrivateMariaDb {
    fn drop(&mut self) {
        self.stop();
    }
}

fn whoami() -> String {
    let out = Command::new("id").arg("-un").output().unwrap();
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// A route sending `alertname` to the webhook at once.
fn route(alertname: &str) -> String {
    format!(
        "\n[[alerts.routes]]\nmatchers = {{ alertname = \"{alertname}\" }}\nreceivers = [\"hook\"]\n\
         group_wait = \"1s\"\ngroup_interval = \"1s\"\n"
    )
}

#[test]
fn stopping_the_binlog_database_alerts_and_its_restart_resolves() {
    let folder = tempfile::tempdir().unwrap();
    let mut db = PrivateMariaDb::new(folder.path());
    let sandbox = Sandbox::with_business(&db.url());
    sandbox.run(&[
        "simulate", "--days", "1", "--scale", "0.002", "--seed", "5", "--start", START,
    ]);
    sandbox.run(&["cdc", "--once"]);
    let receivers = Receivers::start_plain(sandbox.dir.path());
    std::fs::write(
        sandbox.dir.path().join("medlake.toml"),
        format!(
            "[alerts]\nevaluation_interval = \"1s\"\n\n[[alerts.receivers]]\nname = \"hook\"\nkind = \"webhook\"\n\
             url = \"http://127.0.0.1:{}/webhook\"\n{}{}",
            receivers.http_port,
            route("BusinessDatabaseDown"),
            route("CaptureLag")
        ),
    )
    .unwrap();
    let (mut server, _http, _) = start_server(&sandbox, &[]);
    // Up and caught up: nothing fires.
    std::thread::sleep(Duration::from_secs(3));
    assert!(receivers.records().is_empty(), "{:#?}", receivers.records());

    db.stop();
    let down = wait_for_webhook(
        &receivers,
        "BusinessDatabaseDown",
        "firing",
        Duration::from_secs(60),
    );
    assert!(
        down["body"]["alerts"][0]["annotations"]["summary"]
            .as_str()
            .unwrap()
            .contains("127.0.0.1"),
        "{down:#}"
    );
    let lag = wait_for_webhook(&receivers, "CaptureLag", "firing", Duration::from_secs(150));
    assert!(
        lag["body"]["alerts"][0]["labels"]["source"]
            .as_str()
            .unwrap()
            .contains("business"),
        "{lag:#}"
    );

    // Started again: the database answers (resolved); capture catches up with the
    // restarted server's binlog (it opened a new file), and its lag resolves too.
    db.start();
    wait_for_webhook(
        &receivers,
        "BusinessDatabaseDown",
        "resolved",
        Duration::from_secs(60),
    );
    sandbox.run(&["cdc", "--once"]);
    wait_for_webhook(
        &receivers,
        "CaptureLag",
        "resolved",
        Duration::from_secs(60),
    );
    let _ = server.kill();
    let _ = server.wait();
}
