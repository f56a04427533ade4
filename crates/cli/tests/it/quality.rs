//! Quality through the command line and the server: a day with double charges, injected by
//! `medlake simulate --faults`, is stopped by the gate (its reports keep their previous
//! state), `medlake check` finds the same, the results reach `dq_check_result` and the
//! quality API, and a clean day passes.

use crate::common::{days, Sandbox};
use crate::serve::{http_request, json_body, lake_rows, login, Served, START};

/// The check that catches a double charge.
const CHECK: &str = "dwd_consultation_paid.unique_consultation_id";

fn faulty_day() -> String {
    days(START, 3).pop().unwrap()
}

fn clean_day() -> String {
    days(START, 2).pop().unwrap()
}

/// Simulates a third day with double charges, syncs it and builds it: the build fails.
pub(crate) fn a_faulty_third_day(sandbox: &Sandbox) {
    let simulated = sandbox.run(&[
        "simulate",
        "--days",
        "1",
        "--scale",
        "0.003",
        "--seed",
        "5",
        "--start",
        START,
        "--faults",
        "duplicate_payments",
        "--fault-rate",
        "0.2",
    ]);
    let said = String::from_utf8_lossy(&simulated.stdout);
    assert!(
        said.contains(&format!("faults injected: {}", faulty_day())),
        "{said}"
    );
    let day = faulty_day();
    sandbox.run(&["sync", "--day", &day, "--no-reconcile"]);
    let built = sandbox
        .command(&["build", "--day", &day])
        .output()
        .expect("medlake starts");
    let stdout = String::from_utf8_lossy(&built.stdout);
    let stderr = String::from_utf8_lossy(&built.stderr);
    assert!(!built.status.success(), "the faulty day built:\n{stdout}");
    assert!(
        stdout.contains(CHECK) && stdout.contains("failing row"),
        "the build names the check and what it found:\n{stdout}"
    );
    assert!(
        stderr.trim().lines().count() == 1,
        "one error line: {stderr}"
    );
}

pub(crate) fn the_quality_gate_kept_the_faulty_day_out(s: &Served) {
    let sandbox = &s.sandbox;
    let (faulty, clean) = (faulty_day(), clean_day());

    // The reports of the faulty day were never published; the clean day's were.
    let count = |table: &str, day: &str| -> i64 {
        lake_rows(
            sandbox,
            &format!("SELECT count(*) FROM {table} WHERE dt = '{day}'"),
        )[0]
        .parse()
        .unwrap()
    };
    for table in [
        "ads_trade_overview",
        "ads_metric_value",
        "dwd_consultation_paid",
    ] {
        assert_eq!(count(table, &faulty), 0, "{table} has rows of {faulty}");
        assert!(count(table, &clean) > 0, "{table} has no rows of {clean}");
    }

    // The run history says which check stopped the build, and who was skipped.
    let runs =
        String::from_utf8_lossy(&sandbox.run(&["runs", "--limit", "200"]).stdout).into_owned();
    assert!(
        runs.contains(CHECK),
        "medlake runs names the check:\n{runs}"
    );
    assert!(
        runs.contains("skipped: dwd_consultation_paid failed"),
        "descendants say why they were skipped:\n{runs}"
    );

    // medlake check: the faulty day's reports are missing (kept out by the gate), which it
    // says rather than pass checks over no rows; the clean day passes.
    let checked = sandbox
        .command(&["check", "--day", &faulty])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&checked.stdout);
    assert!(!checked.status.success(), "{stdout}");
    assert!(
        stdout.contains(&format!("dwd_consultation_paid: no partition of {faulty}")),
        "{stdout}"
    );
    let ods = stdout
        .lines()
        .find(|l| l.contains("ods_payment_inc.range_data_payment_amount"))
        .unwrap_or_else(|| panic!("the ODS partitions are checked:\n{stdout}"));
    assert!(ods.trim_start().starts_with("pass"), "{ods}");
    let stderr = String::from_utf8_lossy(&checked.stderr);
    assert!(stderr.contains("have no partition of"), "{stderr}");
    assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
    let passed = sandbox.run(&["check", "--day", &clean]);
    let summary = String::from_utf8_lossy(&passed.stdout);
    assert!(summary.contains(", 0 failed"), "{summary}");

    // Every check is listed; the history shows both days.
    let list = String::from_utf8_lossy(&sandbox.run(&["check", "--list"]).stdout).into_owned();
    assert!(list.lines().count() > 20, "{list}");
    for check in [
        CHECK,
        "ods_payment_inc.range_data_payment_amount",
        "dwd_consultation_placed.volume",
    ] {
        assert!(list.contains(check), "--list misses {check}:\n{list}");
    }
    let history =
        String::from_utf8_lossy(&sandbox.run(&["check", "--history", CHECK]).stdout).into_owned();
    assert!(
        history
            .lines()
            .any(|l| l.starts_with(&faulty) && l.contains("fail")),
        "{history}"
    );
    assert!(
        history
            .lines()
            .any(|l| l.starts_with(&clean) && l.contains("pass")),
        "{history}"
    );
    let unknown = sandbox
        .command(&["check", "--history", "dwd_x.nope"])
        .output()
        .unwrap();
    assert!(!unknown.status.success());

    // dq_check_result, the lake table BI tools read.
    let statuses = lake_rows(
        sandbox,
        &format!(
            "SELECT status FROM dq_check_result WHERE dt = '{faulty}' AND check_id = '{CHECK}'"
        ),
    );
    assert_eq!(statuses, ["fail"]);
    let clean_failures = lake_rows(
        sandbox,
        &format!("SELECT count(*) FROM dq_check_result WHERE dt = '{clean}' AND status = 'fail'"),
    );
    assert_eq!(clean_failures, ["0"]);
    let samples = lake_rows(
        sandbox,
        &format!("SELECT sample_keys FROM dq_check_result WHERE dt = '{faulty}' AND check_id = '{CHECK}'"),
    );
    assert!(
        samples[0]
            .split(',')
            .all(|k| k.trim().parse::<i64>().is_ok()),
        "samples are keys: {samples:?}"
    );

    // The quality API: an admin sees the failing check; a viewer is refused.
    let http = s.http.as_str();
    let admin = login(http, "boss", &s.admin_password).expect("admin login");
    let path = format!("/api/quality?day={faulty}");
    let (status, _, body) = http_request(http, "GET", &path, &[("Cookie", &admin)], "").unwrap();
    assert_eq!(status, 200, "{body}");
    let quality = json_body(&body);
    let failing = quality["failing"].as_array().expect("failing checks");
    assert!(
        failing
            .iter()
            .any(|f| f["check_id"] == CHECK && f["status"] == "fail"),
        "{quality}"
    );
    let table = quality["tables"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["table"] == "dwd_consultation_paid")
        .expect("the table is listed");
    assert_eq!(table["status"], "fail");
    let viewer = login(http, "viewer", &s.viewer_password).expect("viewer login");
    let (status, _, _) = http_request(http, "GET", &path, &[("Cookie", &viewer)], "").unwrap();
    assert_eq!(status, 403, "a viewer does not read the quality results");
}
