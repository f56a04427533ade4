//! `medlake serve` with real clients: psql, psycopg and SQLAlchemy over the PostgreSQL
//! protocol (SCRAM-SHA-256 logins), and the HTTP login, sessions, CSRF and API tokens.
//! Every refusal is checked to be a clear one and to run no query.

use std::collections::BTreeSet;
use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Output};
use std::time::Duration;

use crate::common;
use crate::common::{days, row_strings, Sandbox};
use deltalake::datafusion::prelude::SessionContext;

pub(crate) const START: &str = "2026-03-01";

/// One server over one built lake serves every check in turn (building the lake is the
/// slow part); each check names what it proves.
#[test]
fn serving_with_real_clients() {
    let s = served();
    psql_lists_describes_and_queries_the_lake(&s);
    psycopg_and_sqlalchemy_read_the_lake(&s);
    crate::pg_clients::every_client_reads_the_same_rows(&s);
    postgres_statements_run_through_the_query_path_and_are_audited_once(&s);
    a_postgres_row_limit_cuts_results(&s);
    wrong_passwords_unknown_accounts_and_writes_are_refused_clearly(&s);
    web_login_sessions_csrf_and_tokens_guard_every_query(&s);
    an_expired_session_is_refused(&s);
    the_dashboard_api_shows_the_lake_values(&s);
    the_imaging_api_reconciles_orders_and_studies_and_guards_previews(&s);
    crate::lineage::lineage_of_the_built_lake(&s);
    crate::quality::the_quality_gate_kept_the_faulty_day_out(&s);
    a_browser_logs_in_and_sees_every_dashboard_and_sql_lab(&s);
    an_admin_starts_a_build_from_the_web_and_the_run_history_shows_it(&s);
    crate::serve_limits::no_statement_crashes_the_server_and_a_long_query_ends_at_its_timeout(&s);
    crate::serve_fuzz::a_fuzzed_server_answers_everything_and_stays_up(&s);
    // Last: it changes the policy set and alters an audit row by hand.
    crate::governance::policies_hold_on_every_path(&s);
}

/// A lake with a built warehouse and ingested DICOM studies, a server over it, and three
/// accounts.
pub(crate) struct Served {
    pub(crate) sandbox: Sandbox,
    pub(crate) server: Child,
    pub(crate) http: String,
    pub(crate) pg_port: u16,
    pub(crate) analyst_password: String,
    pub(crate) admin_password: String,
    pub(crate) viewer_password: String,
    /// Exams performed without a study and studies without an order, as `imaging
    /// simulate` wrote them.
    pub(crate) imaging_unmatched: (u64, u64),
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.server.kill();
        let _ = self.server.wait();
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port()
}

/// The line after `password (shown once): ` in a command's output.
pub(crate) fn shown_password(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .find_map(|l| l.split_once("password (shown once").map(|(_, p)| p))
        .and_then(|p| p.rsplit(": ").next())
        .expect("a generated password is shown")
        .trim()
        .to_string()
}

pub(crate) fn start_server(sandbox: &Sandbox, envs: &[(&str, &str)]) -> (Child, String, u16) {
    let http = format!("127.0.0.1:{}", free_port());
    let pg_port = free_port();
    let mut server = sandbox.spawn(
        &["serve", "--http", &http, "--pg-port", &pg_port.to_string()],
        envs,
    );
    for _ in 0..600 {
        let http_up = http_request(&http, "GET", "/healthz", &[], "").is_some();
        if http_up && TcpStream::connect(("127.0.0.1", pg_port)).is_ok() {
            return (server, http, pg_port);
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let _ = server.kill();
    let _ = server.wait();
    panic!("medlake serve did not come up on {http} and port {pg_port}");
}

fn served() -> Served {
    {
        let sandbox = Sandbox::sqlite();
        sandbox.run(&[
            "simulate", "--days", "2", "--scale", "0.003", "--seed", "5", "--start", START,
        ]);
        let events = sandbox.dir.path().join(crate::lineage::EVENTS_FILE);
        let lineage_file = [("MEDLAKE_LINEAGE_FILE", events.to_str().unwrap())];
        for day in days(START, 2) {
            sandbox.run_env(&["sync", "--day", &day, "--no-reconcile"], &lineage_file);
            sandbox.run_env(&["build", "--day", &day], &lineage_file);
        }
        // The DICOM studies of the simulated exams performed on those days, written as
        // files and ingested, so the imaging pages list studies and render previews.
        let dicom = sandbox.dir.path().join("dicom");
        let dicom = common::path_str(&dicom);
        let written = sandbox.run(&[
            "imaging", "simulate", "--day", START, "--days", "2", "--to", dicom,
        ]);
        let imaging_unmatched = unmatched_of(&String::from_utf8_lossy(&written.stdout));
        sandbox.run(&["imaging", "ingest", "--from", dicom]);
        crate::quality::a_faulty_third_day(&sandbox);
        let analyst = sandbox.run(&["users", "add", "analyst", "--role", "analyst"]);
        let viewer = sandbox.run(&["users", "add", "viewer", "--role", "viewer"]);
        let admin = sandbox.run(&["users", "add", "boss", "--role", "admin"]);
        let (server, http, pg_port) = start_server(&sandbox, &[]);
        Served {
            imaging_unmatched,
            analyst_password: shown_password(&analyst),
            admin_password: shown_password(&admin),
            viewer_password: shown_password(&viewer),
            sandbox,
            server,
            http,
            pg_port,
        }
    }
}

/// The rows of `sql` read straight from the lake, not through the server.
pub(crate) fn lake_rows(sandbox: &Sandbox, sql: &str) -> Vec<String> {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let ctx: SessionContext = sandbox.lake().session().await.unwrap();
        let batches = ctx.sql(sql).await.unwrap().collect().await.unwrap();
        batches.iter().flat_map(row_strings).collect()
    })
}

/// psql running one command (`-c`) as `user`.
pub(crate) fn psql(s: &Served, user: &str, password: &str, command: &str) -> Output {
    Command::new("psql")
        .args([
            "-h",
            "127.0.0.1",
            "-p",
            &s.pg_port.to_string(),
            "-U",
            user,
            "-d",
            "medlake",
        ])
        .args(["-X", "-A", "-t", "-v", "ON_ERROR_STOP=1"])
        .args(["-c", command])
        .env("PGPASSWORD", password)
        .env("PGCONNECT_TIMEOUT", "20")
        .output()
        .expect("psql runs (scripts/services.sh installs it)")
}

/// What psql printed for `command`, which must fail.
pub(crate) fn psql_error(s: &Served, user: &str, password: &str, command: &str) -> String {
    let out = psql(s, user, password, command);
    assert!(!out.status.success(), "psql should have failed: {command}");
    String::from_utf8_lossy(&out.stderr).into_owned()
}

pub(crate) fn ok_stdout(out: &Output) -> String {
    assert!(
        out.status.success(),
        "client failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn psql_lists_describes_and_queries_the_lake(s: &Served) {
    let listed = ok_stdout(&psql(s, "analyst", &s.analyst_password, "\\dt"));
    let listed: BTreeSet<String> = listed
        .lines()
        .filter_map(|l| l.split('|').nth(1).map(str::to_string))
        .collect();
    let lake: BTreeSet<String> = tokio::runtime::Runtime::new()
        .unwrap()
        .block_on(s.sandbox.lake().table_names())
        .unwrap()
        .into_iter()
        .collect();
    assert_eq!(listed, lake, "\\dt lists exactly the lake's tables");

    let described = ok_stdout(&psql(
        s,
        "analyst",
        &s.analyst_password,
        "\\d ads_metric_value",
    ));
    for column in ["metric", "dimension_value", "window_days", "value", "dt"] {
        assert!(
            described
                .lines()
                .any(|l| l.starts_with(&format!("{column}|"))),
            "\\d ads_metric_value shows column {column}:\n{described}"
        );
    }

    let sql = "SELECT metric, dimension_value, value FROM ads_metric_value \
               WHERE dt = '2026-03-02' AND window_days = 1 ORDER BY metric, dimension_value";
    let served_rows = ok_stdout(&psql(s, "analyst", &s.analyst_password, sql));
    let served_rows: Vec<&str> = served_rows.lines().filter(|l| !l.is_empty()).collect();
    let lake_rows = lake_rows(&s.sandbox, sql);
    assert!(!lake_rows.is_empty(), "the built day has metric values");
    assert_eq!(served_rows.len(), lake_rows.len(), "psql returns every row");
    for (served, direct) in served_rows.iter().zip(&lake_rows) {
        let served: Vec<&str> = served.split('|').collect();
        let direct: Vec<&str> = direct.split('|').collect();
        assert_eq!(served[..2], direct[..2]);
        let (a, b): (f64, f64) = (served[2].parse().unwrap(), direct[2].parse().unwrap());
        assert!((a - b).abs() <= 1e-9 * b.abs().max(1.0), "{a} != {b}");
    }
}

/// A Python client script (under `scripts/`) run against the server as the analyst:
/// `script HOST PORT USER DATABASE [args]`, the password in `PGPASSWORD`; its stdout.
pub(crate) fn python_client(
    s: &Served,
    script: &str,
    args: &[&str],
    envs: &[(&str, &str)],
) -> String {
    let path = format!("{}/../../scripts/{script}", env!("CARGO_MANIFEST_DIR"));
    let out = Command::new(common::python())
        .arg(path)
        .args(["127.0.0.1", &s.pg_port.to_string(), "analyst", "medlake"])
        .args(args)
        .env("PGPASSWORD", &s.analyst_password)
        .envs(envs.iter().copied())
        .output()
        .expect("python runs");
    ok_stdout(&out)
}

fn psycopg_and_sqlalchemy_read_the_lake(s: &Served) {
    let out = python_client(s, "pg_clients_check.py", &["dwd_consultation_paid"], &[]);
    let seen: serde_json::Value = serde_json::from_str(&out).expect("the script prints JSON");
    let direct: i64 = lake_rows(&s.sandbox, "SELECT count(*) FROM dwd_consultation_paid")[0]
        .parse()
        .unwrap();
    assert!(direct > 0);
    assert_eq!(seen["psycopg_count"], direct);
    assert_eq!(seen["psycopg_param_count"], direct);
    assert_eq!(seen["sqlalchemy_count"], direct);
    let schemas: Vec<&str> = seen["schemas"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|v| v.as_str())
        .collect();
    assert!(schemas.contains(&"public"), "schemas: {schemas:?}");
    let tables: Vec<&str> = seen["tables"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|v| v.as_str())
        .collect();
    assert!(
        tables.contains(&"dwd_consultation_paid") && tables.contains(&"ads_metric_value"),
        "tables: {tables:?}"
    );
    let columns: Vec<&str> = seen["columns"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|v| v.as_str())
        .collect();
    assert!(
        columns.contains(&"consultation_id") && columns.contains(&"dt"),
        "columns: {columns:?}"
    );
}

/// The audit rows of `account` whose statement contains every one of `fragments`.
pub(crate) fn audited(
    s: &Served,
    account: &str,
    fragments: &[&str],
) -> Vec<medlake_catalog::AuditRecord> {
    let catalog = medlake_catalog::Catalog::open(&s.sandbox.dir.path().join("catalog.db")).unwrap();
    catalog
        .audit_records(Some(account), 100_000)
        .unwrap()
        .into_iter()
        .filter(|r| fragments.iter().all(|f| r.statement.contains(f)))
        .collect()
}

/// Every PostgreSQL statement is run by the one query path, which writes one audit row
/// with its final outcome: rows and milliseconds for a query, the error for a statement
/// that fails while it runs, for the simple and the extended protocol alike.
fn postgres_statements_run_through_the_query_path_and_are_audited_once(s: &Served) {
    let sql = "SELECT hospital_id, 'audit-rows' AS probe FROM dim_hospital WHERE dt = '2026-03-02'";
    let out = ok_stdout(&psql(s, "analyst", &s.analyst_password, sql));
    let rows = out.lines().filter(|l| !l.is_empty()).count();
    assert!(rows > 0, "dim_hospital has rows");
    let records = audited(s, "analyst", &["audit-rows"]);
    assert_eq!(records.len(), 1, "one audit row per statement: {records:?}");
    assert_eq!(records[0].outcome, "ok");
    assert_eq!(records[0].channel, "pg");
    assert_eq!(records[0].rows, Some(rows as u64));
    assert!(records[0].millis.is_some(), "{:?}", records[0]);

    // Plans fine, fails on the first row: the cast of a hospital's name to a number.
    let failing = "SELECT CAST(hospital_name AS BIGINT) AS audit_fails FROM dim_hospital";
    let stderr = psql_error(s, "analyst", &s.analyst_password, failing);
    let records = audited(s, "analyst", &["audit_fails"]);
    assert_eq!(records.len(), 1, "{records:?}");
    assert_eq!(records[0].outcome, "failed");
    let error = records[0].error.as_deref().unwrap_or_default();
    assert!(
        !error.is_empty() && stderr.to_lowercase().contains("cast"),
        "{error} / {stderr}"
    );
    assert!(records[0].millis.is_some());

    // psycopg's parameterized count (psycopg_and_sqlalchemy_read_the_lake) went through
    // Parse/Bind/Execute: audited with its one row.
    let prepared = audited(s, "analyst", &["dwd_consultation_paid", "$1"]);
    assert!(
        prepared
            .iter()
            .any(|r| r.outcome == "ok" && r.rows == Some(1)),
        "{prepared:?}"
    );
}

/// With `serve.pg_row_limit` set, a PostgreSQL query over more rows than the limit returns
/// the limit's rows, and its audit row says so.
fn a_postgres_row_limit_cuts_results(s: &Served) {
    let (server, _http, pg_port) = start_server(&s.sandbox, &[("MEDLAKE_SERVE_PG_ROW_LIMIT", "3")]);
    let limited = Served {
        sandbox: Sandbox::with_business(&s.sandbox.business_url),
        server,
        http: String::new(),
        pg_port,
        analyst_password: s.analyst_password.clone(),
        admin_password: String::new(),
        viewer_password: String::new(),
        imaging_unmatched: s.imaging_unmatched,
    };
    let total: usize = lake_rows(&s.sandbox, "SELECT count(*) FROM ads_metric_value")[0]
        .parse()
        .unwrap();
    assert!(total > 3);
    let out = psql(
        &limited,
        "analyst",
        &s.analyst_password,
        "SELECT metric, 'row-limit' AS probe FROM ads_metric_value",
    );
    let rows = ok_stdout(&out).lines().filter(|l| !l.is_empty()).count();
    assert_eq!(rows, 3, "cut at the limit");
    let records = audited(s, "analyst", &["row-limit"]);
    assert_eq!(records.len(), 1);
    assert_eq!(
        (records[0].outcome.as_str(), records[0].rows),
        ("ok", Some(3))
    );
}

/// Statements in the query audit so far.
fn audit_count(s: &Served) -> usize {
    let catalog = medlake_catalog::Catalog::open(&s.sandbox.dir.path().join("catalog.db")).unwrap();
    catalog.audit_records(None, 1_000_000).unwrap().len()
}

fn wrong_passwords_unknown_accounts_and_writes_are_refused_clearly(s: &Served) {
    let before = audit_count(s);
    let stderr = psql_error(s, "analyst", "not-the-password", "SELECT 1");
    assert!(
        stderr.contains("password authentication failed")
            || stderr.contains("Password authentication failed"),
        "{stderr}"
    );
    let unknown_err = psql_error(s, "nobody", "whatever-password", "SELECT 1");
    assert!(
        unknown_err
            .to_lowercase()
            .contains("password authentication failed"),
        "{unknown_err}"
    );
    assert_eq!(audit_count(s), before, "a refused login runs no statement");

    let analyst = |command: &str| psql_error(s, "analyst", &s.analyst_password, command);
    let drop = analyst("DROP TABLE ads_metric_value");
    assert!(drop.contains("read-only"), "{drop}");
    let still_there = ok_stdout(&psql(
        s,
        "analyst",
        &s.analyst_password,
        "SELECT count(*) FROM ads_metric_value",
    ));
    assert!(still_there.trim().parse::<u64>().unwrap() > 0);

    let setting = analyst("SET datafusion.execution.batch_size = 1");
    assert!(
        setting.contains("engine settings"),
        "an engine setting from one connection is refused: {setting}"
    );
    ok_stdout(&psql(
        s,
        "analyst",
        &s.analyst_password,
        "SET application_name = 'x'",
    ));

    let viewer_fact = psql_error(
        s,
        "viewer",
        &s.viewer_password,
        "SELECT count(*) FROM dwd_consultation_paid",
    );
    assert!(
        viewer_fact.contains("no policy lets viewer read dwd_consultation_paid"),
        "{viewer_fact}"
    );
    ok_stdout(&psql(
        s,
        "viewer",
        &s.viewer_password,
        "SELECT count(*) FROM ads_metric_value",
    ));

    let bad_sql = analyst("SELEC metric FROM ads_metric_value");
    assert!(bad_sql.to_lowercase().contains("error"), "{bad_sql}");
    // Not even a statement to admit, yet audited as the client sent it.
    let records = audited(s, "analyst", &["SELEC metric"]);
    assert_eq!(records.len(), 1, "{records:?}");
    assert_eq!(records[0].outcome, "failed");
}

/// Status, headers (lowercase names) and body of an HTTP response.
type HttpReply = (u16, Vec<(String, String)>, String);

/// One HTTP exchange through reqwest: status, headers (lowercase names) and body; `None`
/// when the server cannot be reached. Redirects are not followed (the login answers 303).
pub(crate) fn http_request(
    addr: &str,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> Option<HttpReply> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .ok()?;
    runtime.block_on(async {
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(Duration::from_secs(120))
            .build()
            .ok()?;
        let method = reqwest::Method::from_bytes(method.as_bytes()).ok()?;
        let mut request = client
            .request(method, format!("http://{addr}{path}"))
            .body(body.to_string());
        for (k, v) in headers {
            request = request.header(*k, *v);
        }
        let response = request.send().await.ok()?;
        let status = response.status().as_u16();
        let headers = response
            .headers()
            .iter()
            .map(|(k, v)| {
                let v = String::from_utf8_lossy(v.as_bytes()).into_owned();
                (k.as_str().to_ascii_lowercase(), v)
            })
            .collect();
        let body = response.text().await.ok()?;
        Some((status, headers, body))
    })
}

fn header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

/// Logs in through the form and returns the session cookie (`name=value`).
pub(crate) fn login(http: &str, name: &str, password: &str) -> Option<String> {
    let form = format!("name={name}&password={password}");
    let (status, headers, _) = http_request(
        http,
        "POST",
        "/login",
        &[("Content-Type", "application/x-www-form-urlencoded")],
        &form,
    )?;
    if status != 303 {
        return None;
    }
    let cookie = header(&headers, "set-cookie")?;
    assert!(
        cookie.contains("HttpOnly")
            && cookie.contains("SameSite=Strict")
            && cookie.contains("Secure"),
        "{cookie}"
    );
    cookie.split(';').next().map(str::to_string)
}

pub(crate) fn json_body(body: &str) -> serde_json::Value {
    serde_json::from_str(body).unwrap_or_else(|_| panic!("not JSON: {body}"))
}

fn web_login_sessions_csrf_and_tokens_guard_every_query(s: &Served) {
    let http = s.http.as_str();
    let query = r#"{"sql": "SELECT count(*) AS n FROM ads_metric_value"}"#;
    let json = ("Content-Type", "application/json");

    let before = audit_count(s);
    let (status, _, body) = http_request(http, "POST", "/api/query", &[json], query).unwrap();
    assert_eq!(status, 401, "{body}");
    assert_eq!(json_body(&body)["error"]["kind"], "unauthenticated");
    let (status, headers, _) = http_request(http, "GET", "/", &[], "").unwrap();
    assert_eq!(
        (status, header(&headers, "location")),
        (303, Some("/login"))
    );
    assert!(login(http, "analyst", "wrong-password-123").is_none());
    assert!(login(http, "nobody", "wrong-password-123").is_none());
    let (status, _, page) = http_request(
        http,
        "POST",
        "/login",
        &[("Content-Type", "application/x-www-form-urlencoded")],
        "name=analyst&password=nope",
    )
    .unwrap();
    assert_eq!(status, 401);
    assert!(page.contains("Wrong account name or password"));
    assert_eq!(
        audit_count(s),
        before,
        "no query ran for an unauthenticated client"
    );

    let cookie = login(http, "analyst", &s.analyst_password).expect("the right password logs in");
    let cookie_header = ("Cookie", cookie.as_str());
    let (status, _, me) = http_request(http, "GET", "/api/me", &[cookie_header], "").unwrap();
    assert_eq!(status, 200);
    let me = json_body(&me);
    assert_eq!(me["name"], "analyst");
    let csrf = me["csrf"].as_str().unwrap().to_string();

    let (status, _, body) =
        http_request(http, "POST", "/api/query", &[json, cookie_header], query).unwrap();
    assert_eq!(
        status, 403,
        "a session's POST without its CSRF token is refused: {body}"
    );
    assert_eq!(json_body(&body)["error"]["kind"], "csrf");
    let forged = ("X-CSRF-Token", "forged-token");
    let (status, _, _) = http_request(
        http,
        "POST",
        "/api/query",
        &[json, cookie_header, forged],
        query,
    )
    .unwrap();
    assert_eq!(status, 403);
    assert_eq!(
        audit_count(s),
        before,
        "no query ran without a valid CSRF token"
    );

    let token_header = ("X-CSRF-Token", csrf.as_str());
    let (status, _, body) = http_request(
        http,
        "POST",
        "/api/query",
        &[json, cookie_header, token_header],
        query,
    )
    .unwrap();
    assert_eq!(status, 200, "{body}");
    let result = json_body(&body);
    let direct: u64 = lake_rows(&s.sandbox, "SELECT count(*) FROM ads_metric_value")[0]
        .parse()
        .unwrap();
    assert_eq!(result["rows"][0][0], direct);
    assert_eq!(result["columns"][0]["name"], "n");

    let bad = r#"{"sql": "SELECT metric\nFROM ads_metric_value WHERE"}"#;
    let (status, _, body) = http_request(
        http,
        "POST",
        "/api/query",
        &[json, cookie_header, token_header],
        bad,
    )
    .unwrap();
    assert_eq!(status, 400);
    let error = json_body(&body)["error"].clone();
    assert_eq!(error["kind"], "syntax");
    assert_eq!(error["line"], 2, "the error names its line: {error}");

    let (status, _, body) = http_request(
        http,
        "POST",
        "/api/tokens",
        &[json, cookie_header, token_header],
        r#"{"label": "test"}"#,
    )
    .unwrap();
    assert_eq!(status, 200);
    let api_token = json_body(&body)["token"].as_str().unwrap().to_string();
    let bearer = format!("Bearer {api_token}");
    let (status, _, body) = http_request(
        http,
        "POST",
        "/api/query",
        &[json, ("Authorization", &bearer)],
        query,
    )
    .unwrap();
    assert_eq!(status, 200, "{body}");
    let (status, _, _) = http_request(
        http,
        "POST",
        "/api/query",
        &[json, ("Authorization", "Bearer mlk_forged")],
        query,
    )
    .unwrap();
    assert_eq!(status, 401);

    let (status, _, body) =
        http_request(http, "GET", "/api/history", &[cookie_header], "").unwrap();
    assert_eq!(status, 200);
    assert!(json_body(&body)["history"]
        .as_array()
        .unwrap()
        .iter()
        .any(|h| h["outcome"] == "failed"));

    let (status, _, _) =
        http_request(http, "POST", "/logout", &[cookie_header, token_header], "").unwrap();
    assert_eq!(status, 303);
    let (status, _, body) = http_request(http, "GET", "/api/me", &[cookie_header], "").unwrap();
    assert_eq!(status, 401, "a logged-out session is refused: {body}");
}

fn an_expired_session_is_refused(s: &Served) {
    let (mut server, http, _) = start_server(&s.sandbox, &[("MEDLAKE_SERVE_SESSION_SECONDS", "1")]);
    let cookie = login(&http, "analyst", &s.analyst_password).expect("login");
    std::thread::sleep(Duration::from_millis(1500));
    let (status, _, body) =
        http_request(&http, "GET", "/api/me", &[("Cookie", &cookie)], "").unwrap();
    let _ = server.kill();
    let _ = server.wait();
    assert_eq!(status, 401);
    assert!(json_body(&body)["error"]["message"]
        .as_str()
        .unwrap()
        .contains("expired"));
}

/// `text` percent-encoded for a query string.
fn url_escape(text: &str) -> String {
    percent_encoding::utf8_percent_encode(text, percent_encoding::NON_ALPHANUMERIC).to_string()
}

/// The trade dashboard's headline, trend and breakdowns equal what SQL reads straight from
/// `ads_metric_value`, with no filter and with a province filter (which keeps that
/// province's hospitals only in the hospital table).
/// The two numbers `imaging simulate` prints for its first day: "N without their study,
/// M without an order" (the first day: every exam performed that day, also one that ended
/// after midnight, is in the business database and the lake by then).
fn unmatched_of(stdout: &str) -> (u64, u64) {
    let number_before = |line: &str, words: &str| -> u64 {
        let head = line.split(words).next().unwrap_or_default();
        head.rsplit(' ')
            .find(|w| !w.is_empty())
            .and_then(|w| w.parse().ok())
            .unwrap_or(0)
    };
    stdout
        .lines()
        .find(|l| l.contains("without an order"))
        .map(|l| {
            (
                number_before(l, " without their study"),
                number_before(l, " without an order"),
            )
        })
        .unwrap_or_default()
}

fn the_imaging_api_reconciles_orders_and_studies_and_guards_previews(s: &Served) {
    let http = s.http.as_str();
    let analyst = login(http, "analyst", &s.analyst_password).expect("analyst login");
    let path = format!("/api/imaging/studies?day={START}&days=1");
    let (status, _, body) = http_request(http, "GET", &path, &[("Cookie", &analyst)], "").unwrap();
    assert_eq!(status, 200, "{body}");
    let studies = json_body(&body);
    let reconciled = &studies["reconciliation"];
    assert_eq!(
        (
            reconciled["orders_without_study"].as_u64().unwrap(),
            reconciled["studies_without_order"].as_u64().unwrap()
        ),
        s.imaging_unmatched,
        "the page's unmatched exams and studies are the ones the simulator made: {reconciled}"
    );
    let in_lake: u64 = lake_rows(
        &s.sandbox,
        &format!("SELECT count(DISTINCT study_instance_uid) FROM ods_dicom_instance WHERE dt = '{START}'"),
    )[0]
    .parse()
    .unwrap();
    let listed: u64 = studies["totals"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["studies"].as_u64().unwrap())
        .sum();
    assert_eq!(listed, in_lake);
    // A preview: refused to an analyst without the image_reader role, shown to an admin.
    let series = lake_rows(
        &s.sandbox,
        "SELECT min(series_instance_uid) FROM ods_dicom_instance",
    )
    .remove(0);
    let preview = format!("/api/imaging/series/{series}/preview.png");
    let (status, _, _) = http_request(http, "GET", &preview, &[("Cookie", &analyst)], "").unwrap();
    assert_eq!(status, 403);
    let admin = login(http, "boss", &s.admin_password).expect("admin login");
    let (status, headers, _) =
        http_request(http, "GET", &preview, &[("Cookie", &admin)], "").unwrap();
    assert_eq!(status, 200);
    assert_eq!(header(&headers, "content-type"), Some("image/png"));
}

fn the_dashboard_api_shows_the_lake_values(s: &Served) {
    let http = s.http.as_str();
    let cookie = login(http, "analyst", &s.analyst_password).expect("analyst login");
    let day = days(START, 2).pop().unwrap();
    let dashboard = |query: &str| {
        let path = format!("/api/dashboards/trade?window=7{query}");
        let (status, _, body) = http_request(http, "GET", &path, &[("Cookie", &cookie)], "")
            .expect("the dashboard API answers");
        assert_eq!(status, 200, "{body}");
        json_body(&body)
    };
    let number = |v: &serde_json::Value| v.as_f64().expect("a number");
    let lake_numbers = |sql: &str| -> Vec<f64> {
        lake_rows(&s.sandbox, sql)
            .iter()
            .map(|v| v.parse().expect("a number"))
            .collect()
    };

    // The part of a dashboard showing the total paid amount among its headlines or trends.
    let gmv = |board: &serde_json::Value, section: &str| -> serde_json::Value {
        board[section]
            .as_array()
            .unwrap()
            .iter()
            .find(|h| h["measure"] == "total_paid_amount")
            .unwrap_or_else(|| panic!("no total paid amount in {section}"))
            .clone()
    };

    let all = dashboard("");
    assert_eq!(all["day"], day.as_str());
    let headline = gmv(&all, "headlines");
    let overall = lake_numbers(&format!(
        "SELECT value FROM ads_metric_value WHERE dt = '{day}' AND window_days = 7 \
         AND measure = 'total_paid_amount' AND dimension = 'overall'"
    ));
    assert_eq!(vec![number(&headline["value"])], overall);
    let trend = gmv(&all, "trends");
    let trend_days: Vec<&str> = trend["days"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d.as_str().unwrap())
        .collect();
    assert_eq!(trend_days.len(), 30);
    assert_eq!(trend_days.last(), Some(&day.as_str()));
    assert_eq!(
        trend["values"].as_array().unwrap().last(),
        Some(&headline["value"])
    );

    let hospital_table = |board: &serde_json::Value| -> Vec<(String, f64)> {
        board["breakdowns"]
            .as_array()
            .unwrap()
            .iter()
            .find(|b| b["dimension"] == "hospital" && b["measure"] == "total_paid_amount")
            .expect("the hospital table")["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| (i["value"].as_str().unwrap().to_string(), number(&i["v"])))
            .collect()
    };
    let lake_top = |keep: &str| -> Vec<(String, f64)> {
        lake_rows(
            &s.sandbox,
            &format!(
                "SELECT dimension_value, value FROM ads_metric_value WHERE dt = '{day}' \
                 AND window_days = 7 AND measure = 'total_paid_amount' \
                 AND dimension = 'hospital' {keep} \
                 ORDER BY value DESC, dimension_value LIMIT 10"
            ),
        )
        .iter()
        .map(|r| {
            let (id, v) = r.split_once('|').unwrap();
            (id.to_string(), v.parse().unwrap())
        })
        .collect()
    };
    let top = hospital_table(&all);
    assert!(!top.is_empty());
    assert_eq!(top, lake_top(""));

    let province = lake_rows(
        &s.sandbox,
        &format!(
            "SELECT province FROM dim_hospital WHERE dt = '{day}' \
             GROUP BY province ORDER BY count(*) DESC, province LIMIT 1"
        ),
    )
    .pop()
    .expect("a province");
    let narrowed = dashboard(&format!("&province={}", url_escape(&province)));
    let in_province = lake_top(&format!(
        "AND dimension_value IN (SELECT CAST(hospital_id AS VARCHAR) FROM dim_hospital \
         WHERE dt = '{day}' AND province = '{province}')"
    ));
    assert!(!in_province.is_empty());
    assert_eq!(hospital_table(&narrowed), in_province);
    assert_ne!(
        hospital_table(&narrowed),
        top,
        "a province filter narrows the hospital table"
    );
    let province_total = lake_numbers(&format!(
        "SELECT value FROM ads_metric_value WHERE dt = '{day}' AND window_days = 7 \
         AND measure = 'total_paid_amount' AND dimension = 'province' \
         AND dimension_value = '{province}'"
    ));
    assert_eq!(
        vec![number(&gmv(&narrowed, "headlines")["value"])],
        province_total
    );
}

/// Headless Chromium (scripts/browser/check.mjs) logs in as the viewer, opens every
/// dashboard, changes a filter and runs SQL Lab; any console error or empty chart fails it.
/// Screenshots stay in the target folder for a person to look at.
fn a_browser_logs_in_and_sees_every_dashboard_and_sql_lab(s: &Served) {
    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../scripts/browser/check.mjs"
    );
    let shots = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("browser-screenshots");
    let out = Command::new("node")
        .args([
            script,
            &format!("http://{}", s.http),
            "viewer",
            common::path_str(&shots),
        ])
        .env("MEDLAKE_PASSWORD", &s.viewer_password)
        .env("MEDLAKE_ADMIN_ACCOUNT", "boss")
        .env("MEDLAKE_ADMIN_PASSWORD", &s.admin_password)
        .output()
        .expect("node runs (scripts/services.sh installs Chromium and playwright-core)");
    let report: serde_json::Value =
        serde_json::from_str(String::from_utf8_lossy(&out.stdout).trim()).unwrap_or_else(|_| {
            panic!(
                "the browser check failed to report: {}",
                String::from_utf8_lossy(&out.stderr)
            )
        });
    assert_eq!(report["problems"], serde_json::json!([]), "{report}");
    assert!(out.status.success(), "{report}");
    let dashboards = report["dashboards"].as_array().unwrap();
    assert_eq!(dashboards.len(), 7, "{report}");
    assert!(dashboards.iter().any(|d| d["id"] == "imaging"), "{report}");
    assert!(
        dashboards.iter().all(|d| d["charts"].as_u64().unwrap() > 0),
        "{report}"
    );
    assert!(report["sqlLabRows"].as_u64().unwrap() > 0);
    assert!(report["tableColumns"].as_u64().unwrap() >= 8, "{report}");
    assert!(report["metricsFound"].as_u64().unwrap() > 0, "{report}");
    // The data catalog: search, a table's Delta versions, the lineage graph with a
    // column's walks, a measure's page with its lineage (screenshots 43-45).
    for seen in [
        "searchGroups",
        "tableVersions",
        "lineageWalks",
        "metricLineageTables",
    ] {
        assert!(report[seen].as_u64().unwrap_or(0) > 0, "{seen}: {report}");
    }
    assert!(report["runs"].as_u64().unwrap() > 0, "{report}");
    // Permissions and audit: an admin's page only.
    assert_eq!(report["viewerSeesGovernance"], false, "{report}");
    assert!(report["auditRows"].as_u64().unwrap() > 0, "{report}");
    assert_eq!(
        report["auditAccounts"],
        serde_json::json!(["viewer"]),
        "{report}"
    );
    assert_eq!(report["policyFile"], true, "{report}");
    // Imaging: the admin's study list and a study's previews (screenshots 53-54); the
    // viewer is not offered the page.
    assert_eq!(report["viewerSeesImaging"], false, "{report}");
    assert!(
        report["imagingStudies"].as_u64().unwrap_or(0) > 0,
        "{report}"
    );
    assert!(
        report["previewImages"].as_u64().unwrap_or(0) > 0,
        "{report}"
    );
}

/// The CSRF token of a logged-in session.
pub(crate) fn csrf_of(http: &str, cookie: &str) -> String {
    let (_, _, me) = http_request(http, "GET", "/api/me", &[("Cookie", cookie)], "").unwrap();
    json_body(&me)["csrf"].as_str().unwrap().to_string()
}

/// An admin starts the build of a day from the run history page's API; an analyst may not.
/// The build runs as its own process and records its runs in the catalog.
fn an_admin_starts_a_build_from_the_web_and_the_run_history_shows_it(s: &Served) {
    let http = s.http.as_str();
    let body = r#"{"day": "2026-03-02"}"#;
    // Status and body of POST /api/builds from a logged-in session.
    let start_build = |cookie: &str, csrf: &str, body: &str| -> (u16, String) {
        let headers = [
            ("Content-Type", "application/json"),
            ("Cookie", cookie),
            ("X-CSRF-Token", csrf),
        ];
        let (status, _, reply) =
            http_request(http, "POST", "/api/builds", &headers, body).expect("the server answers");
        (status, reply)
    };
    let analyst = login(http, "analyst", &s.analyst_password).unwrap();
    let (status, _) = start_build(&analyst, &csrf_of(http, &analyst), body);
    assert_eq!(status, 403, "an analyst cannot start builds");

    let catalog = medlake_catalog::Catalog::open(&s.sandbox.dir.path().join("catalog.db")).unwrap();
    let before = catalog.recent_runs(1).unwrap().first().map_or(0, |r| r.id);
    let admin = login(http, "boss", &s.admin_password).unwrap();
    let csrf = csrf_of(http, &admin);
    let (status, reply) = start_build(&admin, &csrf, body);
    assert_eq!(status, 202, "{reply}");
    let (status, _) = start_build(&admin, &csrf, r#"{"day": "March 2"}"#);
    assert_eq!(status, 400);

    // The build is a separate process; wait (bounded) for its last step's run record.
    for _ in 0..600 {
        let runs = catalog.recent_runs(500).unwrap();
        let done = runs.iter().find(|r| {
            r.id > before
                && r.kind == medlake_catalog::RunKind::Build
                && r.target == "ads_metric_value"
                && r.dt.map(|d| d.to_string()).as_deref() == Some("2026-03-02")
        });
        if let Some(run) = done.filter(|r| r.outcome != medlake_catalog::Outcome::Running) {
            assert_eq!(run.outcome, medlake_catalog::Outcome::Succeeded, "{run:?}");
            let (status, _, listed) = http_request(
                http,
                "GET",
                "/api/runs?limit=500",
                &[("Cookie", &admin)],
                "",
            )
            .unwrap();
            assert_eq!(status, 200);
            assert!(json_body(&listed)["runs"]
                .as_array()
                .unwrap()
                .iter()
                .any(|r| r["id"] == run.id));
            return;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    panic!("the build started from the web recorded no finished ads_metric_value run");
}
