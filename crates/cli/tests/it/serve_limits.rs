//! `medlake serve` against statements built to crash it and a query built to hog it: the
//! server answers every one with a clear error or a result and never exits; a query past
//! its role's timeout ends there, audited as `timeout`, while dashboards and other
//! analysts are answered meanwhile.

use std::io::Write;
use std::process::{Child, Command, Output, Stdio};

use crate::serve::{audited, http_request, json_body, login, start_server, Served};

/// psql as `user` on `port`, the SQL on stdin (a statement can be longer than one
/// command-line argument may be).
fn psql_stdin(port: u16, user: &str, password: &str, sql: &str) -> Output {
    let mut child = Command::new("psql")
        .args(["-h", "127.0.0.1", "-p", &port.to_string(), "-U", user])
        .args(["-d", "medlake", "-X", "-A", "-t", "-v", "ON_ERROR_STOP=1"])
        .env("PGPASSWORD", password)
        .env("PGCONNECT_TIMEOUT", "20")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("psql runs (scripts/services.sh installs it)");
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(sql.as_bytes()).unwrap();
    stdin.write_all(b";\n").unwrap();
    drop(stdin);
    child.wait_with_output().unwrap()
}

/// The server on `port` still answers a plain query.
fn assert_alive(s: &Served, port: u16, after: &str) {
    let out = psql_stdin(port, "analyst", &s.analyst_password, "SELECT 41 + 1");
    assert!(
        out.status.success() && String::from_utf8_lossy(&out.stdout).trim() == "42",
        "the server stopped answering after {after}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// psql as `user` on `port` running `sql`, in the background.
fn psql_background(port: u16, user: &str, password: &str, sql: &str, output: Stdio) -> Child {
    Command::new("psql")
        .args(["-h", "127.0.0.1", "-p", &port.to_string(), "-U", user])
        .args(["-d", "medlake", "-X", "-A", "-t", "-c", sql])
        .env("PGPASSWORD", password)
        .stdout(Stdio::null())
        .stderr(output)
        .spawn()
        .expect("psql runs (scripts/services.sh installs it)")
}

/// A fresh API token of `account`, as `medlake users token` prints it.
pub(crate) fn api_token(s: &Served, account: &str, label: &str) -> String {
    let out = s
        .sandbox
        .run(&["users", "token", account, "--label", label]);
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .last()
        .unwrap()
        .trim()
        .to_string()
}

fn chain(terms: usize) -> String {
    format!(
        "SELECT {} FROM ads_trade_overview LIMIT 1",
        vec!["1"; terms].join("+")
    )
}

pub(crate) fn no_statement_crashes_the_server_and_a_long_query_ends_at_its_timeout(s: &Served) {
    statements_built_to_crash_are_refused_and_the_server_lives(s);
    a_query_past_its_timeout_ends_there_while_others_are_answered(s);
}

fn statements_built_to_crash_are_refused_and_the_server_lives(s: &Served) {
    // Long flat chains (3,000 terms aborted the process before), deep parentheses, and
    // a chain as long as the text limit allows, over PostgreSQL as the lowest role.
    for terms in [3_000, 8_000, 200_000] {
        let out = psql_stdin(s.pg_port, "viewer", &s.viewer_password, &chain(terms));
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{terms} terms ran");
        assert!(err.contains("nest deeper than"), "{terms} terms: {err}");
        assert_alive(s, s.pg_port, &format!("a chain of {terms} terms"));
    }
    let parens = format!("SELECT {}1{}", "(".repeat(5_000), ")".repeat(5_000));
    let out = psql_stdin(s.pg_port, "viewer", &s.viewer_password, &parens);
    assert!(!out.status.success());
    assert_alive(s, s.pg_port, "5,000 nested parentheses");
    let huge = format!("SELECT 1 -- {}", "x".repeat(1_200_000));
    let out = psql_stdin(s.pg_port, "viewer", &s.viewer_password, &huge);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("the limit is 1024 KiB"), "{err}");
    assert_alive(s, s.pg_port, "a 1.2 MB statement");

    // The same over HTTP, with the viewer's API token.
    let token = api_token(s, "viewer", "abuse");
    let bearer = format!("Bearer {token}");
    let headers = [
        ("Content-Type", "application/json"),
        ("Authorization", bearer.as_str()),
    ];
    for sql in [chain(3_000), chain(200_000), huge] {
        let body = serde_json::json!({ "sql": sql }).to_string();
        let (status, _, reply) = http_request(&s.http, "POST", "/api/query", &headers, &body)
            .expect("the HTTP API answers");
        assert_eq!(status, 403, "{}", &reply[..reply.len().min(300)]);
        assert_eq!(json_body(&reply)["error"]["kind"], "refused");
    }
    assert_alive(s, s.pg_port, "the HTTP abuse");
    // Every refusal is audited, without printing the over-deep statement.
    let refused = audited(s, "viewer", &["not shown: nested deeper than"]);
    assert!(refused.len() >= 5, "{} audited", refused.len());
    assert!(refused.iter().all(|r| r.outcome == "refused"));
}

/// A cursor read in quick fetches outlives the 6 s timeout (each FETCH has all of it, as
/// PostgreSQL's `statement_timeout` counts per statement); one left idle past it ends, and
/// its next FETCH says why.
fn a_cursor_has_the_timeout_per_fetch_and_ends_when_left_idle(s: &Served, port: u16) {
    let mut script =
        String::from("BEGIN;\nDECLARE slow CURSOR FOR SELECT id FROM ods_user_full ORDER BY id;\n");
    for _ in 0..5 {
        script.push_str("FETCH 1 FROM slow;\n\\! sleep 2\n");
    }
    script.push_str("\\! sleep 9\nFETCH 1 FROM slow");
    let out = psql_stdin(port, "analyst", &s.analyst_password, &script);
    let fetched = String::from_utf8_lossy(&out.stdout);
    let err = String::from_utf8_lossy(&out.stderr);
    // psql prints the command tags too (BEGIN, DECLARE CURSOR): count the ids.
    assert_eq!(
        fetched
            .lines()
            .filter(|l| l.trim().parse::<i64>().is_ok())
            .count(),
        5,
        "five fetches over 10 s, each within the timeout: {fetched} / {err}"
    );
    assert!(
        !out.status.success() && err.contains("statement timeout: 6 s"),
        "the idle cursor ended: {err}"
    );
    let audit = audited(s, "analyst", &["DECLARE slow CURSOR"]);
    assert_eq!(audit.len(), 1, "{audit:?}");
    assert_eq!(audit[0].outcome, "timeout");
    assert_eq!(audit[0].rows, Some(5));
}

fn a_query_past_its_timeout_ends_there_while_others_are_answered(s: &Served) {
    let colleague = s
        .sandbox
        .run(&["users", "add", "analyst2", "--role", "analyst"]);
    let colleague_password = crate::serve::shown_password(&colleague);
    let (mut server, http, port) = start_server(
        &s.sandbox,
        &[
            ("MEDLAKE_LIMITS_ANALYST_TIMEOUT_SECONDS", "6"),
            ("MEDLAKE_LIMITS_ADMIN_MEMORY_MIB", "1"),
        ],
    );
    // Three copies of the users table crossed: far more work than 6 seconds.
    let hog = "SELECT a.id, b.id, c.id FROM ods_user_full a CROSS JOIN ods_user_full b \
               CROSS JOIN ods_user_full c ORDER BY a.id * 7 + b.id * 3 + c.id DESC LIMIT 5";
    let password = s.analyst_password.clone();
    let hogging = std::thread::spawn(move || psql_stdin(port, "analyst", &password, hog));
    std::thread::sleep(std::time::Duration::from_secs(1));
    // Meanwhile a dashboard and another analyst are answered.
    let cookie = login(&http, "analyst2", &colleague_password).expect("login");
    let (status, _, body) = http_request(
        &http,
        "GET",
        "/api/dashboards/trade?window=7",
        &[("Cookie", &cookie)],
        "",
    )
    .expect("the dashboard API answers");
    assert_eq!(status, 200, "{body}");
    let small = psql_stdin(
        port,
        "analyst2",
        &colleague_password,
        "SELECT count(*) FROM ads_trade_overview",
    );
    assert!(
        small.status.success(),
        "{}",
        String::from_utf8_lossy(&small.stderr)
    );
    assert!(
        !hogging.is_finished(),
        "the cross join ended before the others ran"
    );
    let hogged = hogging.join().unwrap();
    let err = String::from_utf8_lossy(&hogged.stderr);
    assert!(
        err.contains("statement timeout: 6 s, the limit of role analyst"),
        "{err}"
    );
    let audit = audited(s, "analyst", &["CROSS JOIN ods_user_full c"]);
    assert_eq!(audit.len(), 1);
    assert_eq!(audit[0].outcome, "timeout");
    assert_alive(s, port, "the timeout");

    // A PostgreSQL cancel request (psql sends one on Ctrl-C) stops the statement.
    let child = psql_background(
        port,
        "analyst2",
        &colleague_password,
        &hog.replace("DESC", "ASC"),
        Stdio::piped(),
    );
    std::thread::sleep(std::time::Duration::from_secs(2));
    let signalled = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(signalled.success());
    let out = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("canceling statement due to user request"),
        "{err}"
    );
    // Ended by the cancel, not by the timeout (which the audit would say).
    let audit = audited(s, "analyst2", &["ORDER BY a.id * 7 + b.id * 3 + c.id ASC"]);
    assert_eq!(audit.len(), 1);
    assert_eq!(audit[0].outcome, "cancelled");
    assert_alive(s, port, "the cancel request");

    // A client that goes away without a word (killed) ends its statement too.
    let mut gone = psql_background(
        port,
        "analyst2",
        &colleague_password,
        &hog.replace("c.id DESC", "c.id * 2 DESC"),
        Stdio::null(),
    );
    std::thread::sleep(std::time::Duration::from_secs(2));
    gone.kill().unwrap();
    gone.wait().unwrap();
    let fragment = ["c.id * 2 DESC"];
    let mut audit = audited(s, "analyst2", &fragment);
    for _ in 0..100 {
        if !audit.is_empty() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(200));
        audit = audited(s, "analyst2", &fragment);
    }
    assert_eq!(audit.len(), 1, "the abandoned statement was not ended");
    assert_eq!(audit[0].outcome, "cancelled");
    assert_eq!(
        audit[0].error.as_deref(),
        Some("the client closed its connection")
    );
    assert_alive(s, port, "a client that went away");

    // A statement past its role's memory fails with the limit named (admins: 1 MiB here).
    // 90,000 names gathered into one array: an aggregate that cannot spill to disk.
    let gather = "SELECT cardinality(array_agg(a.username || b.username)) \
                  FROM (SELECT username FROM ods_user_full LIMIT 300) a \
                  CROSS JOIN (SELECT username FROM ods_user_full LIMIT 300) b";
    let out = psql_stdin(port, "boss", &s.admin_password, gather);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("the statement needs more than 1 MiB of memory, the limit of role admin"),
        "{err}"
    );
    assert_alive(s, port, "a statement out of memory");

    a_cursor_has_the_timeout_per_fetch_and_ends_when_left_idle(s, port);
    let _ = server.kill();
    let _ = server.wait();
}
