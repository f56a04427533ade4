//! Directory logins and TLS, against the real OpenLDAP that scripts/services.sh starts
//! (tree: scripts/ldap/tree.ldif) and a CA this test makes with openssl: psql and psycopg
//! connect with `sslmode=verify-full`; an LDAP analyst logs in over PostgreSQL and to the
//! web UI (HTTPS) and sees only their hospitals' rows; a directory account over a plain
//! connection, a disabled person, a person in no mapped group are refused; a person the
//! directory disables loses their open session at their next login; repeated wrong
//! passwords lock an account; every attempt is in the login audit.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

use crate::common::{python, Sandbox};

pub(crate) mod fixtures;

use crate::serve::{lake_rows, shown_password, START};
use fixtures::{TestCa, TestDirectory};

/// The server under test, killed when the test ends.
struct Server {
    child: std::process::Child,
    https: String,
    pg_port: u16,
    ca: PathBuf,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .unwrap()
        .port()
}

impl Server {
    /// psql with a connection string (`sslmode` and all), one command.
    fn psql(&self, user: &str, password: &str, sslmode: &str, command: &str) -> Output {
        let conninfo = format!(
            "host=localhost port={} dbname=medlake user={user} sslmode={sslmode} sslrootcert={}",
            self.pg_port,
            self.ca.display()
        );
        Command::new("psql")
            .arg(conninfo)
            .args(["-X", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-c", command])
            .env("PGPASSWORD", password)
            .env("PGCONNECT_TIMEOUT", "20")
            .output()
            .expect("psql runs")
    }

    /// curl over HTTPS trusting only the test CA: status line code and body.
    fn curl(&self, args: &[&str]) -> (u16, String, String) {
        let out = Command::new("curl")
            .args(["-s", "-S", "--cacert"])
            .arg(&self.ca)
            .args(["-D", "-", "-o", "-", "--max-time", "60"])
            .args(args)
            .output()
            .expect("curl runs");
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        let status = text
            .lines()
            .next()
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|c| c.parse().ok())
            .unwrap_or(0);
        (
            status,
            text,
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }

    /// Logs in through the HTTPS form: the session cookie, or the status and page.
    fn web_login(&self, name: &str, password: &str) -> Result<String, (u16, String)> {
        let url = format!("https://{}/login", self.https);
        let form = format!("name={name}&password={password}");
        let (status, text, _) = self.curl(&["--data", &form, &url]);
        if status != 303 {
            return Err((status, text));
        }
        let cookie = text
            .lines()
            .find_map(|l| l.strip_prefix("set-cookie: "))
            .expect("a session cookie");
        assert!(
            cookie.contains("Secure") && cookie.contains("HttpOnly"),
            "{cookie}"
        );
        Ok(cookie.split(';').next().unwrap().to_string())
    }

    fn get(&self, path: &str, cookie: &str) -> (u16, String) {
        let url = format!("https://{}{path}", self.https);
        let (status, text, _) = self.curl(&["-H", &format!("Cookie: {cookie}"), &url]);
        (status, text)
    }
}

fn policies_with_hospital_scope() -> String {
    let builtin = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../serve/src/governance/policies.toml"),
    )
    .unwrap();
    format!(
        "{builtin}
[[policy]]
id = \"directory-analysts-own-hospitals\"
principals = [\"group:analysts\"]
tables = [\"dim_hospital\"]
row_filter = \"hospital_id IN (${{user.hospitals}})\"
"
    )
}

fn config(ldap: &TestDirectory, ca: &TestCa) -> String {
    format!(
        r#"
[serve.tls]
cert = "{cert}"
key = "{key}"

[auth]
max_failed_logins_per_account = 3

[auth.ldap]
url = "{url}"
bind_dn = "uid={{user}},ou=people,dc=medlake,dc=test"
user_filter = "(&(uid={{user}})(!(employeeType=disabled)))"
group_search_base = "ou=groups,dc=medlake,dc=test"
group_filter = "(member={{dn}})"
timeout_seconds = 10

[auth.ldap.roles]
analysts = "analyst"
viewers = "viewer"

[auth.ldap.attributes]
hospitals = "departmentNumber"

[governance]
policies = "policies.toml"
"#,
        cert = ca.cert.display(),
        key = ca.key.display(),
        url = ldap.url,
    )
}

fn start(sandbox: &Sandbox, ca: &TestCa) -> Server {
    let https = format!("localhost:{}", free_port());
    let pg_port = free_port();
    let child = sandbox.spawn(
        &["serve", "--http", &https, "--pg-port", &pg_port.to_string()],
        &[],
    );
    let server = Server {
        child,
        https,
        pg_port,
        ca: ca.ca.clone(),
    };
    for _ in 0..600 {
        let pg_up = std::net::TcpStream::connect(("127.0.0.1", pg_port)).is_ok();
        if pg_up
            && server
                .curl(&[&format!("https://{}/healthz", server.https)])
                .0
                == 200
        {
            return server;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("medlake serve did not come up over TLS");
}

fn stdout_ok(out: &Output) -> String {
    assert!(
        out.status.success(),
        "failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

fn stderr_of_failure(out: &Output) -> String {
    assert!(!out.status.success(), "should have been refused");
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn directory_logins_over_tls() {
    let ldap = TestDirectory::from_env();
    for uid in ["wang", "li", "chen"] {
        ldap.set_disabled(uid, false);
    }
    let sandbox = Sandbox::sqlite();
    sandbox.run(&[
        "simulate", "--days", "1", "--scale", "0.003", "--seed", "5", "--start", START,
    ]);
    sandbox.run(&["sync", "--day", START, "--no-reconcile"]);
    sandbox.run(&["build", "--day", START]);
    let analyst = shown_password(&sandbox.run(&["users", "add", "analyst", "--role", "analyst"]));
    let boss = shown_password(&sandbox.run(&["users", "add", "boss", "--role", "admin"]));
    let ca = TestCa::make(sandbox.dir.path());
    std::fs::write(
        sandbox.dir.path().join("policies.toml"),
        policies_with_hospital_scope(),
    )
    .unwrap();
    std::fs::write(sandbox.dir.path().join("medlake.toml"), config(&ldap, &ca)).unwrap();
    let server = start(&sandbox, &ca);

    // TLS with certificate and host name checked: psql and psycopg, a local account.
    let one = server.psql("analyst", &analyst, "verify-full", "SELECT 1");
    assert_eq!(stdout_ok(&one), "1");
    let script = format!(
        "import psycopg\n\
         c = psycopg.connect(host='localhost', port={port}, dbname='medlake', user='analyst', \
         password={analyst:?}, sslmode='verify-full', sslrootcert={ca:?})\n\
         print(c.info.pgconn.ssl_in_use, c.execute('SELECT count(*) FROM dim_hospital').fetchone()[0])\n",
        port = server.pg_port,
        ca = ca.ca.display().to_string(),
    );
    let out = Command::new(python())
        .args(["-c", &script])
        .output()
        .unwrap();
    let psycopg = stdout_ok(&out);
    let all_hospitals: Vec<String> =
        lake_rows(&sandbox, "SELECT hospital_id FROM dim_hospital ORDER BY 1");
    assert_eq!(psycopg, format!("True {}", all_hospitals.len()));
    assert!(
        all_hospitals.len() > 2
            && all_hospitals.contains(&"1".into())
            && all_hospitals.contains(&"2".into()),
        "the lake has hospitals 1, 2 and others: {all_hospitals:?}"
    );

    // The LDAP analyst over PostgreSQL with TLS: role and row filter from the directory.
    let wang = server.psql(
        "wang",
        &ldap.password,
        "verify-full",
        "SELECT hospital_id FROM dim_hospital ORDER BY 1",
    );
    assert_eq!(
        stdout_ok(&wang),
        "1\n2",
        "departmentNumber 1 and 2 scope wang's rows"
    );
    // ... and not without TLS: refused before the password is sent.
    let plain = stderr_of_failure(&server.psql("wang", &ldap.password, "disable", "SELECT 1"));
    assert!(
        plain.contains("directory (LDAP) account") && plain.contains("TLS"),
        "{plain}"
    );
    // A wrong password, a disabled person, a person in no mapped group.
    for (who, password) in [
        ("wang", "not-the-password"),
        ("zhao", ldap.password.as_str()),
        ("chen", ldap.password.as_str()),
    ] {
        let refused = stderr_of_failure(&server.psql(who, password, "verify-full", "SELECT 1"));
        assert!(
            refused.contains("wrong account name or password"),
            "{who}: {refused}"
        );
        assert!(!refused.contains(&ldap.password), "no password in an error");
    }

    // The web UI over HTTPS: the LDAP analyst logs in; the disabled one cannot.
    let cookie = server
        .web_login("wang", &ldap.password)
        .expect("wang logs in");
    let (status, me) = server.get("/api/me", &cookie);
    assert_eq!(status, 200, "{me}");
    assert!(me.contains("\"analyst\""), "{me}");
    let (status, page) = server.web_login("zhao", &ldap.password).unwrap_err();
    assert_eq!(status, 401, "{page}");
    let viewer = server.web_login("li", &ldap.password).expect("li logs in");
    assert!(server.get("/api/me", &viewer).1.contains("\"viewer\""));
    // Plain HTTP gets no page: the front speaks TLS only.
    let plain_http = Command::new("curl")
        .args([
            "-s",
            "--max-time",
            "10",
            &format!("http://{}/healthz", server.https),
        ])
        .output()
        .unwrap();
    assert_ne!(String::from_utf8_lossy(&plain_http.stdout).trim(), "ok");

    // The directory disables wang: his next login is refused and his open session ends.
    ldap.set_disabled("wang", true);
    let (status, _) = server.web_login("wang", &ldap.password).unwrap_err();
    assert_eq!(status, 401);
    assert_eq!(
        server.get("/api/me", &cookie).0,
        401,
        "the session ended with the account"
    );
    ldap.set_disabled("wang", false);

    // Three wrong passwords lock a name; then even the right one is refused, on both fronts.
    for _ in 0..3 {
        stderr_of_failure(&server.psql("analyst", "wrong-password-123", "verify-full", "SELECT 1"));
    }
    let locked = stderr_of_failure(&server.psql("analyst", &analyst, "verify-full", "SELECT 1"));
    assert!(locked.contains("too many failed logins"), "{locked}");
    let (status, page) = server.web_login("analyst", &analyst).unwrap_err();
    assert_eq!(status, 429, "{page}");

    // The admin sees the figures and every attempt.
    let admin = server.web_login("boss", &boss).expect("admin logs in");
    let (status, logins) = server.get("/api/logins", &admin);
    assert_eq!(status, 200, "{logins}");
    let body = &logins[logins.find('{').unwrap()..];
    let logins: serde_json::Value = serde_json::from_str(body).unwrap();
    assert_eq!(
        logins["counts"]["locked_accounts"],
        serde_json::json!(["analyst"])
    );
    assert!(
        logins["counts"]["failed"].as_u64().unwrap() >= 6,
        "{logins}"
    );
    let reasons: Vec<String> = logins["recent"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            format!(
                "{} {} {} {}",
                r["account"], r["channel"], r["outcome"], r["reason"]
            )
        })
        .collect();
    let seen = |needle: &str| reasons.iter().any(|r| r.contains(needle));
    assert!(
        seen("\"wang\" \"pg\" \"refused\" \"directory login without TLS\""),
        "{reasons:#?}"
    );
    assert!(
        seen("\"zhao\" \"pg\" \"refused\" \"directory: the directory account is disabled\""),
        "{reasons:#?}"
    );
    assert!(
        seen("\"chen\" \"pg\" \"refused\" \"directory: the directory account is in no group"),
        "{reasons:#?}"
    );
    assert!(seen("\"wang\" \"http\" \"ok\""), "{reasons:#?}");
    assert!(!reasons.iter().any(|r| r.contains(&ldap.password)));

    // wang's directory account: made by his first login, disabled when the directory
    // disabled him, with the directory's groups and attributes.
    let list = String::from_utf8_lossy(&sandbox.run(&["users", "list"]).stdout).into_owned();
    let line = list
        .lines()
        .find(|l| l.starts_with("wang "))
        .expect("wang is listed");
    for part in [
        "analyst",
        "ldap",
        "disabled",
        "groups=analysts",
        "hospitals=1,2",
    ] {
        assert!(line.contains(part), "{line}");
    }
    sandbox.run(&["users", "enable", "wang"]);
    let again = server.psql("wang", &ldap.password, "verify-full", "SELECT 1");
    assert_eq!(
        stdout_ok(&again),
        "1",
        "enabled again once the directory lets him in"
    );
}
