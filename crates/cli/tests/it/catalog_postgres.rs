//! The catalog on PostgreSQL: the demo runs end to end on a PostgreSQL catalog (the one
//! named by MEDLAKE_TEST_POSTGRES_URL, scripts/services.sh) and its metric values equal
//! those of the same demo on the embedded SQLite catalog; the runs land in PostgreSQL.

use std::process::Command;

use deltalake::datafusion::prelude::SessionContext;

use crate::common::{row_strings, Sandbox};

/// A database of its own on the test PostgreSQL, dropped when the test ends.
struct PostgresDatabase {
    name: String,
}

impl PostgresDatabase {
    fn create(purpose: &str) -> PostgresDatabase {
        let name = format!("medlake_test_{purpose}_{}", std::process::id());
        psql(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"));
        psql(&format!("CREATE DATABASE {name}"));
        PostgresDatabase { name }
    }

    fn url(&self) -> String {
        let mut url = url::Url::parse(&server()).unwrap();
        url.set_path(&format!("/{}", self.name));
        url.to_string()
    }
}

impl Drop for PostgresDatabase {
    fn drop(&mut self) {
        let _ = psql_output(&format!(
            "DROP DATABASE IF EXISTS {} WITH (FORCE)",
            self.name
        ));
    }
}

fn server() -> String {
    std::env::var("MEDLAKE_TEST_POSTGRES_URL").unwrap_or_else(|_| {
        panic!("MEDLAKE_TEST_POSTGRES_URL is not set: run the tests through scripts/test.sh")
    })
}

fn psql_output(sql: &str) -> std::process::Output {
    Command::new("psql")
        .args([
            server().as_str(),
            "-X",
            "-A",
            "-t",
            "-v",
            "ON_ERROR_STOP=1",
            "-c",
            sql,
        ])
        .output()
        .expect("psql runs (scripts/services.sh installs it)")
}

fn psql(sql: &str) -> String {
    let out = psql_output(sql);
    assert!(
        out.status.success(),
        "{sql}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// Every metric value of the demo's lake, one line each, in a fixed order.
fn metric_values(demo: &std::path::Path) -> Vec<String> {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let lake =
            medlake_lake::Lake::open(demo.join("lake").to_str().unwrap(), Default::default())
                .unwrap();
        let ctx = SessionContext::new();
        lake.register(&ctx, "ads_metric_value").await.unwrap();
        let sql = "SELECT CAST(dt AS VARCHAR), metric, dimension_value, window_days, value \
                   FROM ads_metric_value ORDER BY 1, 2, 3, 4";
        let batches = ctx.sql(sql).await.unwrap().collect().await.unwrap();
        batches.iter().flat_map(row_strings).collect()
    })
}

fn demo(sandbox: &Sandbox, dir: &str, catalog_url: Option<&str>) -> std::path::PathBuf {
    let path = sandbox.dir.path().join(dir);
    let args = [
        "demo",
        "--dir",
        path.to_str().unwrap(),
        "--days",
        "3",
        "--scale",
        "0.003",
        "--no-serve",
    ];
    let mut command = sandbox.command(&args);
    command.env_remove("MEDLAKE_CATALOG_URL");
    if let Some(url) = catalog_url {
        command.env("MEDLAKE_CATALOG_URL", url);
    }
    let out = command.output().expect("medlake runs");
    assert!(
        out.status.success(),
        "demo on {catalog_url:?} failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    path
}

#[test]
fn the_demo_on_a_postgres_catalog_gives_the_sqlite_demos_metric_values() {
    let sandbox = Sandbox::sqlite();
    let database = PostgresDatabase::create("demo_catalog");
    let embedded = metric_values(&demo(&sandbox, "on-sqlite", None));
    let on_postgres = metric_values(&demo(&sandbox, "on-postgres", Some(&database.url())));
    assert!(!embedded.is_empty(), "the demo built metric values");
    assert_eq!(embedded, on_postgres);

    // The runs went to PostgreSQL, not to a SQLite file in the demo folder.
    let mut runs = url::Url::parse(&database.url()).unwrap();
    runs.set_query(None);
    let count = Command::new("psql")
        .args([
            runs.as_str(),
            "-X",
            "-A",
            "-t",
            "-c",
            "SELECT count(*) FROM run",
        ])
        .output()
        .unwrap();
    let count: u64 = String::from_utf8_lossy(&count.stdout)
        .trim()
        .parse()
        .unwrap();
    assert!(count > 0, "runs recorded in the PostgreSQL catalog");
    let sqlite_file = sandbox.dir.path().join("on-postgres/catalog.db");
    assert!(
        !sqlite_file.exists(),
        "no SQLite catalog beside the PostgreSQL one"
    );

    // A second demo on the same, no longer empty, catalog is refused with a clear line.
    let again = sandbox
        .command(&["demo", "--dir", "again", "--days", "1", "--no-serve"])
        .env("MEDLAKE_CATALOG_URL", database.url())
        .output()
        .unwrap();
    assert!(!again.status.success());
    let stderr = String::from_utf8_lossy(&again.stderr);
    assert!(stderr.contains("needs an empty catalog"), "{stderr}");
}
