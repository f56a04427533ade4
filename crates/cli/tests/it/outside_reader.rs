//! An outside Delta reader (Python's `deltalake`, set up by scripts/services.sh) reads
//! every ODS table medlake wrote, with the rows medlake says are there.

use crate::common::{days, Sandbox};

#[tokio::test(flavor = "multi_thread")]
async fn python_deltalake_reads_every_ods_table() {
    let python = std::env::var("MEDLAKE_TEST_PYTHON").expect(
        "MEDLAKE_TEST_PYTHON is not set: run the tests through scripts/test.sh, which installs Python's deltalake",
    );
    let sandbox = Sandbox::sqlite();
    sandbox.run(&[
        "simulate",
        "--days",
        "2",
        "--scale",
        "0.002",
        "--start",
        "2026-05-01",
    ]);
    for day in days("2026-05-01", 2) {
        sandbox.run(&["sync", "--day", &day]);
    }
    let summary = sandbox.lake().summary().await.unwrap();
    let expected_tables = medlake_schema::business_tables()
        .iter()
        .map(|t| usize::from(t.changes) + usize::from(t.kind == medlake_schema::TableKind::Master))
        .sum::<usize>();
    assert_eq!(summary.len(), expected_tables, "ODS tables in the lake");
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/../../scripts/read_lake.py");
    let out = std::process::Command::new(&python)
        .arg(script)
        .arg(sandbox.lake_path())
        .output()
        .expect("python runs");
    assert!(
        out.status.success(),
        "reader failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let printed = String::from_utf8_lossy(&out.stdout);
    for table in &summary {
        let line = format!("{} {}", table.name, table.rows());
        assert!(
            printed.lines().any(|l| l == line),
            "python read {printed}, expected line '{line}'"
        );
        assert!(table.rows() > 0, "{} is empty", table.name);
    }
}
