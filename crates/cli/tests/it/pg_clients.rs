//! The PostgreSQL client compatibility suite: the clients analysts pull data with, each
//! real and installed by `scripts/services.sh`, read one query from `medlake serve` and
//! must get the lake's own rows and types (a date, a timestamp, a decimal, nulls, text in
//! Chinese), whether they stream through a cursor, copy, or read whole:
//!
//! - psql: a query, the same with `FETCH_COUNT` (psql then reads through a cursor), and
//!   `\copy (query) to 'file' csv header`;
//! - psycopg 3 (text, binary, named cursors with and without hold, `pg_cursors`, `COPY`
//!   in text, csv and binary), psycopg2 (plain, named cursor, `COPY` csv), asyncpg
//!   (prepared statements with binary codecs, a cursor, `COPY` csv), pandas over
//!   SQLAlchemy 2 (whole and chunked with `stream_results`, both dialects):
//!   `scripts/clients/py_clients.py`;
//! - node-postgres with pg-cursor and pg-query-stream: `scripts/clients/node_clients.js`;
//! - the newest Apache Superset release: `scripts/superset_check.sh` registers medlake,
//!   lists its tables, runs a SQL Lab query and a chart's query.

use std::process::Command;

use deltalake::arrow::array::{Array, RecordBatch};
use deltalake::arrow::datatypes::DataType;
use deltalake::arrow::util::display::array_value_to_string;
use deltalake::datafusion::prelude::SessionContext;
use serde_json::Value;

use crate::serve::{audited, ok_stdout, psql, python_client, Served};

/// The query every client reads: every kind of value a report pulls, some nulls, text in
/// Chinese, in a fixed order.
const QUERY: &str = "SELECT CAST(payment_id AS BIGINT) AS payment_id, \
     CAST(paid_time AS TIMESTAMP) AS paid_time, \
     CAST(amount AS DECIMAL(12, 2)) AS amount, \
     CAST(paid_time AS DATE) AS paid_day, \
     CASE WHEN payment_id % 7 < 3 THEN NULL ELSE '问诊费 ' || CAST(payment_id AS VARCHAR) END AS note \
     FROM dwd_consultation_paid ORDER BY payment_id";

/// The suite's type vocabulary, in the query's column order.
const TYPES: [&str; 5] = ["int", "timestamp", "decimal", "date", "text"];

type Rows = Vec<Vec<Option<String>>>;

pub(crate) fn every_client_reads_the_same_rows(s: &Served) {
    let expected = lake_rows(s);
    assert!(
        expected.len() > 2 * 97,
        "enough rows for several cursor batches: {}",
        expected.len()
    );
    assert!(expected.iter().any(|r| r[4].is_none()), "some nulls");
    assert!(
        expected
            .iter()
            .any(|r| r[4].as_deref().is_some_and(|t| t.contains("问诊"))),
        "text in Chinese"
    );

    let python = run_python(s);
    let node = run_node(s);
    let mut clients = 0;
    for (name, seen) in python.iter().chain(node.iter()) {
        let Some(rows) = seen.get("rows") else {
            continue;
        };
        clients += 1;
        same_rows(name, &rows_of(rows), &expected);
        if let Some(types) = seen.get("types").filter(|t| !t.is_null()) {
            assert_eq!(
                types,
                &serde_json::json!(TYPES),
                "{name} decoded other types"
            );
        }
    }
    assert!(clients >= 20, "every client reported: {clients}");
    // pg_cursors listed the held cursor while it was open, and nothing after its close.
    assert_eq!(python["pg_cursors"], serde_json::json!([["held", true]]));
    assert_eq!(python["pg_cursors_after_close"], 0);

    psql_reads_with_a_cursor_and_copies_to_a_file(s, &expected);
    cursors_and_copies_keep_postgresqls_rules(s);
    // A cursor's query was run and audited by the one query path, with its rows.
    let declared = audited(s, "analyst", &["DECLARE", "big_binary"]);
    assert!(
        declared
            .iter()
            .any(|r| r.outcome == "ok" && r.rows == Some(expected.len() as u64)),
        "{declared:?}"
    );
}

/// psql: the query as is, through a cursor (`FETCH_COUNT`), and `\copy` to a csv file.
fn psql_reads_with_a_cursor_and_copies_to_a_file(s: &Served, expected: &Rows) {
    let unaligned = |out: String| -> Rows {
        out.lines()
            .filter(|l| !l.is_empty())
            .map(|l| l.split('|').map(|v| canon_text(Some(v))).collect())
            .collect()
    };
    let plain = ok_stdout(&psql(s, "analyst", &s.analyst_password, QUERY));
    same_rows("psql", &unaligned(plain), expected);
    // With FETCH_COUNT psql reads through a cursor: BEGIN, DECLARE, FETCH FORWARD 50.
    let through_cursor = psql_as_analyst(s)
        .args(["-A", "-t", "-v", "FETCH_COUNT=50", "-c", QUERY])
        .output()
        .expect("psql runs");
    same_rows(
        "psql with FETCH_COUNT",
        &unaligned(ok_stdout(&through_cursor)),
        expected,
    );

    let file = s.sandbox.dir.path().join("paid.csv");
    let copy = format!("\\copy ({QUERY}) to '{}' csv header", file.display());
    let out = ok_stdout(&psql(s, "analyst", &s.analyst_password, &copy));
    assert!(out.contains(&format!("COPY {}", expected.len())), "{out}");
    let written = std::fs::read_to_string(&file).expect("\\copy wrote the file");
    let mut lines = csv_rows(&written).into_iter();
    assert_eq!(
        lines.next().unwrap_or_default(),
        ["payment_id", "paid_time", "amount", "paid_day", "note"].map(|c| Some(c.to_string()))
    );
    let copied: Rows = lines
        .map(|r| r.into_iter().map(|v| canon_text(v.as_deref())).collect())
        .collect();
    same_rows("psql \\copy", &copied, expected);
}

/// `seen` equals `expected`, or the first row where they differ is shown.
fn same_rows(client: &str, seen: &Rows, expected: &Rows) {
    if let Some(at) = (0..seen.len().min(expected.len())).find(|&i| seen[i] != expected[i]) {
        panic!(
            "{client} read another row {at}: {:?}, the lake has {:?}",
            seen[at], expected[at]
        );
    }
    assert_eq!(
        seen.len(),
        expected.len(),
        "{client} read another number of rows"
    );
}

/// psql connecting to the server as the analyst, stopping at the first error.
fn psql_as_analyst(s: &Served) -> Command {
    let mut psql = Command::new("psql");
    psql.args([
        "-h",
        "127.0.0.1",
        "-p",
        &s.pg_port.to_string(),
        "-U",
        "analyst",
    ])
    .args(["-d", "medlake", "-X", "-v", "ON_ERROR_STOP=1"])
    .env("PGPASSWORD", &s.analyst_password);
    psql
}

/// psql running a script (statements sent one by one), its output and whether it passed.
fn psql_script(s: &Served, script: &str) -> (bool, String, String) {
    use std::io::Write;
    let mut child = psql_as_analyst(s)
        .args(["-q", "-A", "-t", "-f", "-"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("psql runs");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(script.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// FETCH and MOVE move forward through a cursor; `DISCARD ALL` closes every cursor; a
/// cursor without hold needs a transaction; backward moves, closed cursors and copies that write are refused with
/// PostgreSQL's words.
fn cursors_and_copies_keep_postgresqls_rules(s: &Served) {
    let ids = crate::serve::lake_rows(
        &s.sandbox,
        "SELECT payment_id FROM dwd_consultation_paid ORDER BY payment_id",
    );
    assert!(ids.len() >= 6, "{ids:?}");
    let script = "BEGIN;\n\
        DECLARE h CURSOR FOR SELECT payment_id FROM dwd_consultation_paid ORDER BY payment_id;\n\
        FETCH 2 FROM h;\n\
        MOVE FORWARD 3 IN h;\n\
        FETCH NEXT FROM h;\n\
        SELECT name, is_holdable FROM pg_cursors;\n\
        CLOSE h;\n\
        SELECT count(*) FROM pg_cursors;\n\
        COMMIT;\n\
        DECLARE held CURSOR WITH HOLD FOR SELECT 1;\n\
        DISCARD ALL;\n\
        SELECT count(*) FROM pg_cursors;\n";
    let (ok, out, err) = psql_script(s, script);
    assert!(ok, "{err}");
    let lines: Vec<&str> = out.lines().filter(|l| !l.is_empty()).collect();
    assert_eq!(
        lines,
        [
            ids[0].as_str(),
            ids[1].as_str(),
            ids[5].as_str(),
            "h|f",
            "0",
            "0"
        ],
        "{out}"
    );
    let refused = |script: &str, words: &str| {
        let (ok, _, err) = psql_script(s, script);
        assert!(!ok && err.contains(words), "{script}: {err}");
    };
    refused(
        "DECLARE h CURSOR FOR SELECT 1;",
        "can only be used in transaction blocks",
    );
    // Names fold to lower case unless quoted; two FETCHes in one query message (psql -c
    // sends it whole) both answer; an empty COPY still writes its csv header.
    let one_message =
        "BEGIN; DECLARE Paid CURSOR FOR SELECT payment_id FROM dwd_consultation_paid \
         ORDER BY payment_id; FETCH 1 FROM paid; FETCH 1 FROM PAID; COMMIT";
    let out = ok_stdout(&psql(s, "analyst", &s.analyst_password, one_message));
    let fetched: Vec<&str> = out.lines().filter(|l| l.parse::<i64>().is_ok()).collect();
    assert_eq!(fetched, [ids[0].as_str(), ids[1].as_str()], "{out}");
    let empty = ok_stdout(&psql(
        s,
        "analyst",
        &s.analyst_password,
        "COPY (SELECT payment_id FROM dwd_consultation_paid WHERE false) TO STDOUT CSV HEADER",
    ));
    assert_eq!(empty.trim(), "payment_id", "{empty}");
    refused(
        "BEGIN;\nDECLARE h CURSOR FOR SELECT 1;\nFETCH BACKWARD 1 FROM h;",
        "can only scan forward",
    );
    refused(
        "BEGIN;\nFETCH 1 FROM nowhere;",
        "cursor \"nowhere\" does not exist",
    );
    refused(
        "BEGIN;\nDECLARE h CURSOR FOR SELECT 1;\nDECLARE h CURSOR FOR SELECT 2;",
        "already exists",
    );
    refused("COPY dim_hospital FROM STDIN;", "read-only");
    refused("COPY dim_hospital TO '/tmp/medlake-copy';", "read-only");
    refused("COPY (SELECT 1) TO STDOUT (FORMAT xml);", "not recognized");
    assert!(!std::path::Path::new("/tmp/medlake-copy").exists());
}

/// The query's rows read straight from the lake, in the suite's text form.
fn lake_rows(s: &Served) -> Rows {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let batches: Vec<RecordBatch> = runtime.block_on(async {
        let ctx: SessionContext = s.sandbox.lake().session().await.unwrap();
        ctx.sql(QUERY).await.unwrap().collect().await.unwrap()
    });
    let mut rows = Vec::new();
    for batch in &batches {
        let kinds: Vec<&str> = batch
            .schema()
            .fields()
            .iter()
            .map(|f| kind(f.data_type()))
            .collect();
        assert_eq!(kinds, TYPES, "the query reads every kind of value");
        for row in 0..batch.num_rows() {
            let values = batch
                .columns()
                .iter()
                .zip(&kinds)
                .map(|(column, kind)| {
                    (!column.is_null(row)).then(|| {
                        let text = array_value_to_string(column, row).unwrap();
                        match *kind {
                            // Arrow writes 2026-03-01T08:15:00, PostgreSQL a space.
                            "timestamp" => {
                                canon_text(Some(&text.replacen('T', " ", 1))).unwrap_or_default()
                            }
                            _ => text,
                        }
                    })
                })
                .collect();
            rows.push(values);
        }
    }
    rows
}

fn kind(data_type: &DataType) -> &'static str {
    match data_type {
        DataType::Int64 | DataType::Int32 => "int",
        DataType::Timestamp(_, _) => "timestamp",
        DataType::Decimal128(_, _) => "decimal",
        DataType::Date32 => "date",
        DataType::Utf8 | DataType::Utf8View | DataType::LargeUtf8 => "text",
        _ => "other",
    }
}

/// A value in the text form: null for an empty field, fractions of a second to 6 digits.
fn canon_text(value: Option<&str>) -> Option<String> {
    let value = value.filter(|v| !v.is_empty())?;
    let looks_like_timestamp = value.len() >= 19
        && value.as_bytes()[4] == b'-'
        && value.as_bytes()[10] == b' '
        && value.as_bytes()[13] == b':';
    if !looks_like_timestamp {
        return Some(value.to_string());
    }
    let (head, fraction) = value.split_once('.').unwrap_or((value, ""));
    if fraction.trim_end_matches('0').is_empty() {
        return Some(head.to_string());
    }
    Some(format!("{head}.{fraction:0<6}"))
}

/// The fields of csv text (RFC 4180 quoting); an unquoted empty field is null.
fn csv_rows(text: &str) -> Vec<Vec<Option<String>>> {
    let mut rows = Vec::new();
    let mut row = Vec::new();
    let mut field = String::new();
    let (mut quoted, mut in_quotes, mut chars) = (false, false, text.chars().peekable());
    while let Some(c) = chars.next() {
        match (in_quotes, c) {
            (true, '"') if chars.peek() == Some(&'"') => {
                field.push('"');
                chars.next();
            }
            (true, '"') => in_quotes = false,
            (true, c) => field.push(c),
            (false, '"') => (in_quotes, quoted) = (true, true),
            (false, ',') | (false, '\n') => {
                let value = std::mem::take(&mut field);
                row.push((quoted || !value.is_empty()).then_some(value));
                quoted = false;
                if c == '\n' {
                    rows.push(std::mem::take(&mut row));
                }
            }
            (false, c) => field.push(c),
        }
    }
    rows
}

fn rows_of(value: &Value) -> Rows {
    value
        .as_array()
        .expect("rows are a list")
        .iter()
        .map(|row| {
            row.as_array()
                .expect("a row is a list")
                .iter()
                .map(|v| v.as_str().map(str::to_string))
                .collect()
        })
        .collect()
}

fn run_python(s: &Served) -> serde_json::Map<String, Value> {
    parsed(&python_client(
        s,
        "clients/py_clients.py",
        &[],
        &[("MEDLAKE_QUERY", QUERY)],
    ))
}

fn run_node(s: &Served) -> serde_json::Map<String, Value> {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../../scripts/clients");
    let out = Command::new("node")
        .arg("node_clients.js")
        .current_dir(dir)
        .env("PGHOST", "127.0.0.1")
        .env("PGPORT", s.pg_port.to_string())
        .env("PGUSER", "analyst")
        .env("PGPASSWORD", &s.analyst_password)
        .env("PGDATABASE", "medlake")
        .env("MEDLAKE_QUERY", QUERY)
        .output()
        .expect("node runs (scripts/services.sh installs the clients)");
    parsed(&ok_stdout(&out))
}

fn parsed(stdout: &str) -> serde_json::Map<String, Value> {
    match serde_json::from_str(stdout) {
        Ok(Value::Object(map)) => map,
        _ => panic!("the client script prints one JSON object, not: {stdout}"),
    }
}

/// Superset (SQLAlchemy 1.4 and psycopg2) registers medlake, lists its tables, runs SQL
/// Lab and a chart over a lake of its own.
#[test]
fn superset_runs_sql_lab_and_a_chart_over_medlake() {
    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../scripts/superset_check.sh"
    );
    let out = Command::new(script)
        .arg(env!("CARGO_BIN_EXE_medlake"))
        .output()
        .expect("the Superset check runs");
    let stderr = String::from_utf8_lossy(&out.stderr);
    let stdout = ok_stdout(&out);
    assert!(stderr.contains("[superset-check] Superset 6."), "{stderr}");
    for step in [
        "registered medlake as Superset database",
        "SQL Lab query returned",
        "chart query returned",
        "Superset works with medlake",
    ] {
        assert!(stdout.contains(step), "{step}: {stdout}");
    }
}

#[test]
fn text_forms_and_csv_are_read_as_the_clients_print_them() {
    assert_eq!(
        canon_text(Some("2026-03-01 08:15:00")).as_deref(),
        Some("2026-03-01 08:15:00")
    );
    assert_eq!(
        canon_text(Some("2026-03-01 08:15:00.5")).as_deref(),
        Some("2026-03-01 08:15:00.500000")
    );
    assert_eq!(
        canon_text(Some("2026-03-01 08:15:00.000")).as_deref(),
        Some("2026-03-01 08:15:00")
    );
    assert_eq!(canon_text(Some("")), None);
    assert_eq!(
        csv_rows("a,\"b,\"\"c\"\"\",,\"\"\n"),
        vec![vec![
            Some("a".into()),
            Some("b,\"c\"".into()),
            None,
            Some(String::new())
        ]]
    );
}
