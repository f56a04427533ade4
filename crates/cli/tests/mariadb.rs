//! The same simulation into SQLite and into the real MariaDB gives the same rows, and a
//! sync from MariaDB lands exactly the source in the lake.

mod common;

use common::{assert_lake_equals_source, days, source_rows, Sandbox};
use mysql_async::prelude::Queryable;

/// The server URL (no database) from MEDLAKE_TEST_MYSQL_URL; a missing setting or an
/// unreachable server fails the test: it must not pass without MariaDB.
async fn mariadb_server() -> String {
    let url = std::env::var("MEDLAKE_TEST_MYSQL_URL").expect(
        "MEDLAKE_TEST_MYSQL_URL is not set: run the tests through scripts/test.sh, which starts MariaDB",
    );
    let pool = mysql_async::Pool::new(url.as_str());
    let mut conn = pool.get_conn().await.unwrap_or_else(|e| {
        panic!("MariaDB at {url} is not reachable ({e}): start it with scripts/services.sh")
    });
    let version: Option<String> = conn.query_first("SELECT VERSION()").await.unwrap();
    assert!(
        version
            .unwrap_or_default()
            .to_lowercase()
            .contains("mariadb"),
        "{url} is not MariaDB"
    );
    drop(conn);
    pool.disconnect().await.unwrap();
    url.trim_end_matches('/').to_string()
}

/// A database dropped when the test ends, pass or fail.
struct TempDatabase {
    server: String,
    name: String,
}

impl TempDatabase {
    fn new(server: &str, purpose: &str) -> TempDatabase {
        let name = format!("medlake_test_{purpose}_{}", std::process::id());
        TempDatabase {
            server: server.to_string(),
            name,
        }
    }

    fn url(&self) -> String {
        format!("{}/{}", self.server, self.name)
    }
}

impl Drop for TempDatabase {
    fn drop(&mut self) {
        let server = self.server.clone();
        let name = self.name.clone();
        let _ = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async {
                let pool = mysql_async::Pool::new(server.as_str());
                if let Ok(mut conn) = pool.get_conn().await {
                    let _ = conn
                        .query_drop(format!("DROP DATABASE IF EXISTS `{name}`"))
                        .await;
                }
                let _ = pool.disconnect().await;
            });
        })
        .join();
    }
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
