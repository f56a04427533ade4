//! Permissions on every path: the adversarial suite. Statements that try to get around a
//! PHI mask or a row filter, each run over HTTP (the JSON API) and PostgreSQL (psql), as
//! a masked analyst and as a hospital-scoped analyst; nothing a mask hides (ID numbers,
//! names, phones, emails, birthdays read from the lake directly) and no row a filter
//! hides (other hospitals' names, counts beyond the scope) may appear in any result, error
//! text or plan. Then: the scoped analyst's dashboard equals the admin's restricted to the
//! scope, every statement's audit row names its policies, and the audit's hash chain holds
//! until a row is altered by hand.

use std::collections::BTreeSet;
use std::process::Command;

use crate::common::{days, python};
use crate::serve::{
    csrf_of, http_request, json_body, lake_rows, login, ok_stdout, psql, Served, START,
};

mod attacks;

use attacks::{Expect, FILTER_ATTACKS, MASK_ATTACKS};
use Expect::{Either, Fails, Rows};

/// An analyst scoped to hospitals by a row filter, and what they must not see.
struct Scope {
    allowed: Vec<String>,
    other: String,
    hidden_names: BTreeSet<String>,
}

/// Values of one column straight from the lake, as text.
fn values(s: &Served, sql: &str) -> BTreeSet<String> {
    lake_rows(&s.sandbox, sql)
        .into_iter()
        .filter(|v| !v.is_empty())
        .collect()
}

/// The PHI a masked analyst must never see.
fn phi_secrets(s: &Served) -> BTreeSet<String> {
    let mut secrets = values(s, "SELECT id_card_no FROM ods_patient_full");
    secrets.extend(values(s, "SELECT telephone FROM ods_user_full"));
    secrets.extend(values(s, "SELECT email FROM ods_user_full"));
    // Two-character names could occur inside other text; three or more are specific.
    secrets.extend(values(
        s,
        "SELECT name FROM ods_patient_full WHERE character_length(name) >= 3 \
         UNION SELECT name FROM ods_doctor_full WHERE character_length(name) >= 3",
    ));
    // A birthday on 1 January is what the year-only mask shows for every birthday; the
    // business' own history (create times) starts after 2020, so older dates are only ever
    // birthdays.
    secrets.extend(values(
        s,
        "SELECT CAST(birthday AS VARCHAR) FROM ods_patient_full WHERE birthday < DATE '2020-01-01' \
         AND NOT (date_part('month', birthday) = 1 AND date_part('day', birthday) = 1)",
    ));
    assert!(secrets.len() > 50, "the lake has PHI to hide");
    secrets
}

/// An API token of `account`.
fn token(s: &Served, account: &str) -> String {
    let out = s.sandbox.run(&["users", "token", account]);
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .last()
        .expect("a token line")
        .trim()
        .to_string()
}

/// One statement over HTTP: whether it gave rows, and everything the client saw.
fn over_http(s: &Served, token: &str, sql: &str) -> (bool, String) {
    let body = serde_json::json!({ "sql": sql, "limit": 100_000 }).to_string();
    let auth = format!("Bearer {token}");
    let (status, _, text) = http_request(
        &s.http,
        "POST",
        "/api/query",
        &[
            ("Authorization", &auth),
            ("Content-Type", "application/json"),
        ],
        &body,
    )
    .expect("the API answers");
    (status == 200, text)
}

/// One statement over PostgreSQL (psql): whether it gave rows, and everything printed.
fn over_pg(s: &Served, user: &str, password: &str, sql: &str) -> (bool, String) {
    let out = psql(s, user, password, sql);
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

/// The first of `hidden` that occurs in `text`: as a whole field (split at anything that
/// is not a letter, digit or `@.-_`), or inside a run of non-ASCII letters (a name glued
/// to other text) or of digits (an ID number inside a longer number). Checking every
/// secret as a substring of every result would take minutes over thousands of secrets.
fn leaked<'a>(text: &str, hidden: &'a BTreeSet<String>) -> Option<&'a String> {
    let field = |c: char| c.is_alphanumeric() || "@.-_".contains(c);
    if let Some(leak) = text
        .split(|c: char| !field(c))
        .find_map(|token| hidden.get(token))
    {
        return Some(leak);
    }
    let runs = |keep: fn(char) -> bool| -> Vec<String> {
        text.split(|c: char| !keep(c))
            .filter(|r| r.chars().count() >= 2)
            .map(str::to_string)
            .collect()
    };
    let wide = runs(|c| c.is_alphabetic() && !c.is_ascii());
    let digits = runs(|c| c.is_ascii_digit() || c == 'X');
    hidden.iter().find(|h| {
        let runs = if h.is_ascii() { &digits } else { &wide };
        runs.iter().any(|r| r.contains(h.as_str()))
    })
}

/// Runs every attack on both channels and checks it leaks none of `hidden`.
fn attack(
    s: &Served,
    (user, password, token): (&str, &str, &str),
    attacks: &[(Expect, String)],
    hidden: &BTreeSet<String>,
) {
    for (expect, sql) in attacks {
        for (channel, (ok, text)) in [
            ("http", over_http(s, token, sql)),
            ("pg", over_pg(s, user, password, sql)),
        ] {
            if let Some(leak) = leaked(&text, hidden) {
                panic!("{channel} leaked {leak:?} to {user} for: {sql}");
            }
            match expect {
                Rows => assert!(ok, "{channel} should answer {sql}: {text}"),
                Fails => assert!(!ok, "{channel} should refuse {sql}: {text}"),
                Either => {}
            }
        }
    }
}

/// The policy file for the scoped analyst: the built-in policies, plus row filters for
/// the group `hospital_scoped` on the tables that have a hospital.
fn scoped_policies(s: &Served) -> String {
    let builtin = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../serve/src/governance/policies.toml"),
    )
    .expect("the built-in policies");
    let _ = s;
    format!(
        "{builtin}
[[policy]]
id = \"scoped-hospital-rows\"
principals = [\"group:hospital_scoped\"]
tables = [\"dim_hospital\", \"dim_doctor\", \"dwd_consultation_*\", \"dws_hospital_*\", \"ads_hospital_ranking\"]
row_filter = \"hospital_id IN (${{user.hospitals}})\"

[[policy]]
id = \"scoped-metric-rows\"
principals = [\"group:hospital_scoped\"]
tables = [\"ads_metric_value\"]
row_filter = \"dimension = 'hospital' AND dimension_value IN (${{user.hospitals}})\"

[[policy]]
id = \"scoped-no-ods\"
principals = [\"group:hospital_scoped\"]
tables = [\"ods_*\"]
access = \"deny\"
"
    )
}

/// Stores `body` as the policy set through the admin's web API (in force at once).
fn store_policies(s: &Served, body: &str) -> i64 {
    let cookie = login(&s.http, "boss", &s.admin_password).expect("admin login");
    let csrf = csrf_of(&s.http, &cookie);
    let request = serde_json::json!({ "body": body, "note": "scoped analysts" }).to_string();
    let (status, _, reply) = http_request(
        &s.http,
        "POST",
        "/api/policies",
        &[
            ("Cookie", &cookie),
            ("X-CSRF-Token", &csrf),
            ("Content-Type", "application/json"),
        ],
        &request,
    )
    .expect("the API answers");
    assert_eq!(status, 200, "{reply}");
    json_body(&reply)["version"].as_i64().expect("a version")
}

fn scope(s: &Served, day: &str) -> Scope {
    let hospitals: Vec<(String, String)> = lake_rows(
        &s.sandbox,
        &format!("SELECT hospital_id, hospital_name FROM dim_hospital WHERE dt = '{day}' ORDER BY hospital_id"),
    )
    .iter()
    .map(|r| {
        let (id, name) = r.split_once('|').expect("id|name");
        (id.to_string(), name.to_string())
    })
    .collect();
    assert!(hospitals.len() >= 4, "enough hospitals to scope");
    let allowed: Vec<String> = hospitals[..2].iter().map(|(id, _)| id.clone()).collect();
    let allowed_names: Vec<&String> = hospitals[..2].iter().map(|(_, n)| n).collect();
    let hidden_names = hospitals[2..]
        .iter()
        .map(|(_, n)| n.clone())
        .filter(|n| !allowed_names.iter().any(|a| a.contains(n.as_str())))
        .collect();
    Scope {
        other: hospitals[2].0.clone(),
        allowed,
        hidden_names,
    }
}

/// The whole check; one server serves it (see `serve::serving_with_real_clients`).
pub(crate) fn policies_hold_on_every_path(s: &Served) {
    let day = days(START, 2).pop().unwrap();
    let secrets = phi_secrets(s);
    let id = lake_rows(
        &s.sandbox,
        "SELECT id_card_no FROM ods_patient_full ORDER BY id LIMIT 1",
    )
    .pop()
    .unwrap();
    let name = lake_rows(
        &s.sandbox,
        "SELECT name FROM ods_patient_full ORDER BY id LIMIT 1",
    )
    .pop()
    .unwrap();
    // The detector is not blind: the lake's own rows are full of what it looks for.
    let clear = lake_rows(
        &s.sandbox,
        "SELECT id, name || id_card_no FROM ods_patient_full",
    )
    .join("\n");
    assert!(
        leaked(&clear, &secrets).is_some(),
        "the leak detector finds glued values"
    );
    let masked: Vec<(Expect, String)> = MASK_ATTACKS
        .iter()
        .map(|(e, sql)| (*e, sql.replace("{id}", &id).replace("{name}", &name)))
        .collect();
    let analyst_token = token(s, "analyst");
    attack(
        s,
        ("analyst", &s.analyst_password, &analyst_token),
        &masked,
        &secrets,
    );
    masked_values_keep_their_type_and_join(s, &analyst_token, &id);
    the_audit_names_the_policies(s);

    // A hospital-scoped analyst.
    let scope = scope(s, &day);
    let scoped = s
        .sandbox
        .run(&["users", "add", "scoped", "--role", "analyst"]);
    let scoped_password = crate::serve::shown_password(&scoped);
    s.sandbox
        .run(&["users", "set", "scoped", "groups", "hospital_scoped"]);
    let mut set = vec!["users", "set", "scoped", "hospitals"];
    set.extend(scope.allowed.iter().map(String::as_str));
    s.sandbox.run(&set);
    let version = store_policies(s, &scoped_policies(s));
    assert!(version >= 2, "a new policy version");
    let scoped_token = token(s, "scoped");
    let filtered: Vec<(Expect, String)> = FILTER_ATTACKS
        .iter()
        .map(|(e, sql)| (*e, sql.replace("{other}", &scope.other)))
        .collect();
    let mut hidden = scope.hidden_names.clone();
    hidden.extend(secrets);
    attack(
        s,
        ("scoped", &scoped_password, &scoped_token),
        &filtered,
        &hidden,
    );
    scoped_counts_are_the_admins_restricted(s, &scope, &scoped_token, &scoped_password);
    scoped_dashboard_is_the_admins_restricted(s, &scope, &scoped_password);
    the_audit_chain_holds_until_a_row_is_altered(s);
}

/// Masked columns keep their type (a client's described result does not change) and the
/// keyed hash of an ID number is the same in every table, so joins on it still work.
fn masked_values_keep_their_type_and_join(s: &Served, token: &str, id: &str) {
    let (ok, body) = over_http(
        s,
        token,
        "SELECT p.id_card_no, z.id_card_no AS zipped, p.birthday FROM ods_patient_full p \
         JOIN dim_patient_zip z ON p.id_card_no = z.id_card_no LIMIT 3",
    );
    assert!(ok, "{body}");
    let reply = json_body(&body);
    let rows = reply["rows"].as_array().unwrap();
    assert!(!rows.is_empty(), "hashed ID numbers join: {body}");
    let first = &rows[0];
    assert_eq!(first[0], first[1]);
    let hashed = first[0].as_str().unwrap();
    assert_eq!(hashed.len(), 32, "a keyed hash, not the number: {hashed}");
    assert_ne!(hashed, id);
    assert!(
        first[2].as_str().unwrap().ends_with("-01-01"),
        "a birthday shows its year only: {first}"
    );
    let types: Vec<&str> = reply["columns"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["type"].as_str().unwrap())
        .collect();
    assert_eq!(types[2], "Date32", "a masked date stays a date");
}

/// Every statement's audit row names the tables it read and the policies applied.
fn the_audit_names_the_policies(s: &Served) {
    let rows = crate::serve::audited(
        s,
        "analyst",
        &["SELECT name, id_card_no, birthday FROM ods_patient_full"],
    );
    assert!(!rows.is_empty());
    for r in &rows {
        assert_eq!(r.tables, "ods_patient_full", "{r:?}");
        assert!(r.policies.contains("mask:phi-default@"), "{r:?}");
        assert!(r.policies.contains("mask:id-numbers-hashed@"), "{r:?}");
        assert!(!r.phi_unmasked);
    }
    let refused = crate::serve::audited(s, "analyst", &["EXPLAIN VERBOSE"]);
    assert!(
        refused.iter().all(|r| r.outcome == "refused"),
        "{refused:?}"
    );
}

/// Counts and sums the scoped analyst reads equal the admin's over the scope's hospitals.
fn scoped_counts_are_the_admins_restricted(s: &Served, scope: &Scope, token: &str, password: &str) {
    let list = scope.allowed.join(", ");
    for (scoped_sql, lake_sql) in [
        (
            "SELECT count(*) FROM dwd_consultation_paid".to_string(),
            format!("SELECT count(*) FROM dwd_consultation_paid WHERE hospital_id IN ({list})"),
        ),
        (
            "SELECT count(*) FROM dwd_consultation_paid WHERE hospital_id = ".to_string()
                + &scope.other,
            "SELECT count(*) FROM dwd_consultation_paid WHERE false".to_string(),
        ),
        (
            "SELECT count(*) FROM dim_hospital".to_string(),
            format!("SELECT count(*) FROM dim_hospital WHERE hospital_id IN ({list})"),
        ),
        (
            "SELECT count(*) FROM ads_metric_value".to_string(),
            format!(
                "SELECT count(*) FROM ads_metric_value WHERE dimension = 'hospital' \
                 AND dimension_value IN ({})",
                scope
                    .allowed
                    .iter()
                    .map(|h| format!("'{h}'"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        ),
    ] {
        let expected = lake_rows(&s.sandbox, &lake_sql).pop().unwrap();
        let (ok, body) = over_http(s, token, &scoped_sql);
        assert!(ok, "{body}");
        let got = json_body(&body)["rows"][0][0].clone();
        assert_eq!(got.to_string(), expected, "http: {scoped_sql}");
        let pg = ok_stdout(&psql(s, "scoped", password, &scoped_sql));
        assert_eq!(pg.trim(), expected, "pg: {scoped_sql}");
    }
}

/// The dashboard a scoped analyst sees for one of their hospitals is the admin's, and their
/// hospital table is the admin's restricted to their hospitals.
fn scoped_dashboard_is_the_admins_restricted(s: &Served, scope: &Scope, password: &str) {
    let board = |user: &str, password: &str, query: &str| {
        let cookie = login(&s.http, user, password).expect("login");
        let path = format!("/api/dashboards/trade?window=7{query}");
        let (status, _, body) =
            http_request(&s.http, "GET", &path, &[("Cookie", &cookie)], "").expect("answers");
        assert_eq!(status, 200, "{body}");
        json_body(&body)
    };
    let headlines = |b: &serde_json::Value| b["headlines"].to_string();
    let hospital = format!("&hospital={}", scope.allowed[0]);
    let admin = board("boss", &s.admin_password, &hospital);
    let scoped = board("scoped", password, &hospital);
    assert_eq!(headlines(&scoped), headlines(&admin));
    assert!(headlines(&admin).contains("total_paid_amount"));
    let hospital_items = |b: &serde_json::Value| -> Vec<String> {
        b["breakdowns"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|b| b["dimension"] == "hospital")
            .flat_map(|b| b["items"].as_array().unwrap().clone())
            .map(|i| i["value"].as_str().unwrap().to_string())
            .collect()
    };
    let admin_all = hospital_items(&board("boss", &s.admin_password, ""));
    let scoped_all = hospital_items(&board("scoped", password, ""));
    assert!(!scoped_all.is_empty());
    assert!(
        scoped_all.iter().all(|h| scope.allowed.contains(h)),
        "{scoped_all:?}"
    );
    if admin_all.len() < 10 {
        // The admin's table is not cut at its top 10: all of the scope's hospitals are in it.
        let restricted: Vec<String> = admin_all
            .into_iter()
            .filter(|h| scope.allowed.contains(h))
            .collect();
        assert_eq!(scoped_all, restricted);
    }
}

/// `medlake audit verify` passes on the real audit and fails once a row is altered in the
/// catalog database by hand.
fn the_audit_chain_holds_until_a_row_is_altered(s: &Served) {
    let verified = s.sandbox.command(&["audit", "verify"]).output().unwrap();
    let said = String::from_utf8_lossy(&verified.stdout).into_owned();
    assert!(
        verified.status.success(),
        "{said}{}",
        String::from_utf8_lossy(&verified.stderr)
    );
    assert!(said.contains("the chain holds"), "{said}");
    let catalog = s.sandbox.dir.path().join("catalog.db");
    let altered = Command::new(python())
        .args([
            "-c",
            "import sqlite3, sys; c = sqlite3.connect(sys.argv[1]); \
             c.execute(\"UPDATE query_audit SET account = 'nobody' WHERE id = \
             (SELECT max(id) - 5 FROM query_audit)\"); c.commit()",
        ])
        .arg(&catalog)
        .status()
        .unwrap();
    assert!(altered.success());
    let broken = s.sandbox.command(&["audit", "verify"]).output().unwrap();
    assert!(!broken.status.success());
    let said = String::from_utf8_lossy(&broken.stderr);
    assert!(
        said.contains("broken at row") && said.contains("altered"),
        "{said}"
    );
}
