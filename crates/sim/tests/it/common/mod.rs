//! Helpers shared by the integration tests.
#![allow(dead_code)]

use std::path::Path;

use chrono::NaiveDate;
use medlake_schema::business_tables;
use medlake_sim::{simulate, BusinessWriter, Faults, SimParams, SimState, Target};

/// Small-scale parameters used by most tests.
pub fn params(seed: u64, scale: f64) -> SimParams {
    SimParams {
        seed,
        scale,
        start: NaiveDate::from_ymd_opt(2026, 3, 1).unwrap(),
    }
}

/// Simulates `days` more days into the SQLite file at `path`.
pub async fn run_sqlite(path: &Path, p: &SimParams, days: u32) -> SimState {
    let mut w = BusinessWriter::open(&Target::Sqlite(path.to_path_buf()))
        .await
        .unwrap();
    let state = simulate(&mut w, p, days, &Faults::none(), |_| {})
        .await
        .unwrap();
    w.close().await.unwrap();
    state
}

/// Every business table's rows, ordered by id, rendered as text.
pub fn dump_sqlite(path: &Path) -> Vec<(String, Vec<String>)> {
    let conn = rusqlite::Connection::open(path).unwrap();
    business_tables()
        .iter()
        .map(|t| {
            let mut stmt = conn
                .prepare(&format!("SELECT * FROM \"{}\" ORDER BY id", t.name))
                .unwrap();
            let n = stmt.column_count();
            let rows = stmt
                .query_map([], |r| {
                    let cells: Vec<String> = (0..n)
                        .map(|i| format!("{:?}", r.get_ref(i).unwrap()))
                        .collect();
                    Ok(cells.join("|"))
                })
                .unwrap()
                .collect::<Result<Vec<_>, _>>()
                .unwrap();
            (t.name.to_string(), rows)
        })
        .collect()
}

/// A scratch database on the test MariaDB (MEDLAKE_TEST_MYSQL_URL, set by
/// scripts/test.sh). A missing setting fails the test: it must not pass without MariaDB.
pub fn test_mysql_url(purpose: &str) -> String {
    let server = std::env::var("MEDLAKE_TEST_MYSQL_URL").expect(
        "MEDLAKE_TEST_MYSQL_URL is not set: run the tests through scripts/test.sh, which starts MariaDB",
    );
    format!(
        "{}/medlake_sim_{purpose}_{}",
        server.trim_end_matches('/'),
        std::process::id()
    )
}
