//! The same simulation into SQLite and into the real MariaDB gives the same rows, and a
//! sync from MariaDB lands exactly the source in the lake.

use crate::common;
use crate::common::{assert_lake_equals_source, days, source_rows, Sandbox, TempDatabase};

async fn mariadb_server() -> String {
    common::mysql_server("MEDLAKE_TEST_MYSQL_URL").await
}

const SIM: [&str; 8] = [
    "simulate", "--days", "2", "--scale", "0.002", "--seed", "11", "--start",
];
const START: &str = "2026-02-27";

#[tokio::test(flavor = "multi_thread")]
async fn sqlite_and_mariadb_get_the_same_rows() {
    let server = mariadb_server().await;
    let db = TempDatabase::new(&server, "same_rows");
    let sqlite = Sandbox::sqlite();
    let mut args = SIM.to_vec();
    args.push(START);
    sqlite.run(&args);
    let mysql = Sandbox::with_business(&db.url());
    mysql.run(&args);
    for table in medlake_schema::business_tables() {
        let a = source_rows(&sqlite.business_url, table).await;
        let b = source_rows(&db.url(), table).await;
        assert!(!a.is_empty(), "{} is empty", table.name);
        assert_eq!(
            a.len(),
            b.len(),
            "{}: row count SQLite vs MariaDB",
            table.name
        );
        let differing: Vec<_> = a
            .iter()
            .filter(|(id, row)| b.get(id) != Some(row))
            .map(|(id, _)| *id)
            .take(5)
            .collect();
        assert!(
            differing.is_empty(),
            "{}: rows differ for ids {differing:?}",
            table.name
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn sync_from_mariadb_lands_exactly_the_source() {
    let server = mariadb_server().await;
    let db = TempDatabase::new(&server, "sync");
    let sandbox = Sandbox::with_business(&db.url());
    let mut args = SIM.to_vec();
    args.push(START);
    sandbox.run(&args);
    let all_days = days(START, 2);
    for day in &all_days {
        sandbox.run(&["sync", "--day", day]);
    }
    assert_lake_equals_source(&db.url(), &sandbox.lake(), all_days.last().unwrap()).await;
}
