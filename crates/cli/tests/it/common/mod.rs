//! Shared by the integration tests: a sandbox with its own business database, lake and
//! catalog, the `medlake` binary run inside it, and the comparison of lake against source.

#![allow(dead_code)]

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output};

use deltalake::arrow::array::{Array, RecordBatch, StructArray};
use deltalake::arrow::util::display::{ArrayFormatter, FormatOptions};
use medlake_lake::Lake;
use medlake_schema::Table;

/// A folder holding one medlake installation.
pub struct Sandbox {
    pub dir: tempfile::TempDir,
    pub business_url: String,
}

impl Sandbox {
    /// A sandbox whose business database is SQLite inside it.
    pub fn sqlite() -> Sandbox {
        let dir = tempfile::tempdir().expect("tempdir");
        let business_url = format!("sqlite://{}", dir.path().join("business.db").display());
        Sandbox { dir, business_url }
    }

    /// A sandbox whose business database is `url` (lake and catalog stay inside it).
    pub fn with_business(url: &str) -> Sandbox {
        let dir = tempfile::tempdir().expect("tempdir");
        Sandbox {
            dir,
            business_url: url.to_string(),
        }
    }

    pub fn lake_path(&self) -> PathBuf {
        self.dir.path().join("lake")
    }

    pub fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_medlake"));
        cmd.current_dir(self.dir.path())
            .arg("--quiet")
            .args(args)
            .env("MEDLAKE_BUSINESS_URL", &self.business_url)
            .env("MEDLAKE_LAKE_URL", self.lake_path())
            .env("MEDLAKE_CATALOG_PATH", self.dir.path().join("catalog.db"))
            .env_remove("MEDLAKE_CONFIG");
        cmd
    }

    /// Runs medlake and returns its output, panicking with stderr if it fails.
    pub fn run(&self, args: &[&str]) -> Output {
        self.run_env(args, &[])
    }

    /// Runs medlake with extra environment variables, as [`run`](Self::run).
    pub fn run_env(&self, args: &[&str], envs: &[(&str, &str)]) -> Output {
        let out = self
            .command(args)
            .envs(envs.iter().copied())
            .output()
            .expect("medlake starts");
        assert!(
            out.status.success(),
            "medlake {args:?} failed:\n{}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        out
    }

    pub fn spawn(&self, args: &[&str], envs: &[(&str, &str)]) -> Child {
        let mut cmd = self.command(args);
        for (k, v) in envs {
            cmd.env(k, v);
        }
        cmd.stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null());
        cmd.spawn().expect("medlake starts")
    }

    pub fn lake(&self) -> Lake {
        Lake::open(self.lake_path().to_str().unwrap(), Default::default()).expect("lake opens")
    }
}

/// Each row of `batch` as one line of its formatted values.
pub fn row_strings(batch: &RecordBatch) -> Vec<String> {
    let options = FormatOptions::default().with_null("NULL");
    let formatters: Vec<_> = batch
        .columns()
        .iter()
        .map(|c| ArrayFormatter::try_new(c.as_ref(), &options).expect("formatter"))
        .collect();
    (0..batch.num_rows())
        .map(|i| {
            formatters
                .iter()
                .map(|f| f.value(i).to_string())
                .collect::<Vec<_>>()
                .join("|")
        })
        .collect()
}

/// Every row of a business table in the source, formatted, keyed by id: its captured
/// columns (a source never reads a secret column), the ones the lake holds.
pub async fn source_rows(url: &str, table: &'static Table) -> BTreeMap<i64, String> {
    let source = medlake_source::open(url).expect("source opens");
    let Some((lo, hi)) = source.id_bounds(table).await.expect("bounds") else {
        return BTreeMap::new();
    };
    let batch = source.read_ids(table, lo, hi).await.expect("read");
    keyed(&batch)
}

fn keyed(batch: &RecordBatch) -> BTreeMap<i64, String> {
    ids_of(batch).into_iter().zip(row_strings(batch)).collect()
}

/// The `id` column of a batch of business rows, in row order.
fn ids_of(batch: &RecordBatch) -> Vec<i64> {
    batch
        .column_by_name("id")
        .unwrap()
        .as_any()
        .downcast_ref::<deltalake::arrow::array::Int64Array>()
        .unwrap()
        .values()
        .to_vec()
}

async fn query(lake: &Lake, name: &str, sql: &str) -> Vec<RecordBatch> {
    let ctx = deltalake::datafusion::prelude::SessionContext::new();
    lake.register(&ctx, name).await.expect("register");
    ctx.sql(sql)
        .await
        .expect("plan")
        .collect()
        .await
        .expect("run")
}

/// Rows of partition `dt` of `ods_<table>_full`, keyed by id (duplicate ids panic): the
/// captured columns, as [`source_rows`] reads them (secrets never land).
pub async fn lake_full_rows(lake: &Lake, table: &'static Table, dt: &str) -> BTreeMap<i64, String> {
    let name = table.ods_full_name();
    let cols: Vec<String> = table.captured_names().map(|c| format!("\"{c}\"")).collect();
    let sql = format!("SELECT {} FROM {name} WHERE dt = '{dt}'", cols.join(", "));
    let mut out = BTreeMap::new();
    for batch in query(lake, &name, &sql).await {
        for (id, row) in keyed(&batch) {
            assert!(
                out.insert(id, row).is_none(),
                "{name} dt={dt}: id {id} twice"
            );
        }
    }
    out
}

/// The change records of `ods_<table>_inc`: (id, update_time) pairs must be unique (no
/// doubled change); returns the latest version of each id.
pub async fn lake_latest_rows(lake: &Lake, table: &'static Table) -> BTreeMap<i64, String> {
    latest_rows(lake, table, true).await
}

/// The latest version of each id after a resync, which restates rows that did not change
/// (so (id, update_time) pairs repeat, with the same values).
pub async fn lake_latest_rows_after_resync(
    lake: &Lake,
    table: &'static Table,
) -> BTreeMap<i64, String> {
    latest_rows(lake, table, false).await
}

async fn latest_rows(
    lake: &Lake,
    table: &'static Table,
    refuse_doubles: bool,
) -> BTreeMap<i64, String> {
    let name = table.ods_inc_name();
    let mut seen = BTreeSet::new();
    let mut latest: BTreeMap<i64, (String, String)> = BTreeMap::new();
    let update_index = table.captured_index("update_time").unwrap();
    for batch in query(lake, &name, &format!("SELECT data FROM {name}")).await {
        let data = batch
            .column(0)
            .as_any()
            .downcast_ref::<StructArray>()
            .expect("data is a struct");
        let rows = RecordBatch::from(data.clone());
        let times = row_strings(&rows.project(&[update_index]).unwrap());
        // In the batch's own order: a batch holds changes of any ids, in commit order,
        // and may hold one id more than once.
        let ids = ids_of(&rows);
        let strings = row_strings(&rows);
        for ((id, row), time) in ids.into_iter().zip(strings).zip(times) {
            assert!(
                seen.insert((id, time.clone())) || !refuse_doubles,
                "{name}: change of id {id} at {time} recorded twice"
            );
            match latest.get(&id) {
                Some((t, _)) if *t >= time => {}
                _ => {
                    latest.insert(id, (time, row));
                }
            }
        }
    }
    latest.into_iter().map(|(id, (_, row))| (id, row)).collect()
}

/// Asserts that the lake holds exactly the source: master snapshots of day `dt`, and the
/// latest change record of every row of every changing table.
pub async fn assert_lake_equals_source(url: &str, lake: &Lake, dt: &str) {
    for table in medlake_schema::business_tables() {
        let source = source_rows(url, table).await;
        assert!(
            !source.is_empty() || table.name == "none",
            "source table {} is empty",
            table.name
        );
        if table.kind == medlake_schema::TableKind::Master {
            let lake_rows = lake_full_rows(lake, table, dt).await;
            assert_same(table.ods_full_name(), &source, &lake_rows);
        }
        if table.changes {
            let lake_rows = lake_latest_rows(lake, table).await;
            assert_same(table.ods_inc_name(), &source, &lake_rows);
        }
    }
}

pub fn assert_same(name: String, source: &BTreeMap<i64, String>, lake: &BTreeMap<i64, String>) {
    let missing: Vec<_> = source
        .keys()
        .filter(|id| !lake.contains_key(id))
        .take(5)
        .collect();
    let extra: Vec<_> = lake
        .keys()
        .filter(|id| !source.contains_key(id))
        .take(5)
        .collect();
    assert!(
        missing.is_empty(),
        "{name}: ids missing from the lake, e.g. {missing:?}"
    );
    assert!(
        extra.is_empty(),
        "{name}: ids in the lake but not the source, e.g. {extra:?}"
    );
    let differing: Vec<_> = source
        .iter()
        .filter(|(id, row)| lake.get(id) != Some(row))
        .map(|(id, _)| id)
        .take(5)
        .collect();
    // Only ids are printed: the rows hold (synthetic) personal data.
    assert!(
        differing.is_empty(),
        "{name}: rows differ from the source for ids {differing:?}"
    );
    assert_eq!(source.len(), lake.len(), "{name}: row count");
}

/// The business days `start .. start + days`.
pub fn days(start: &str, n: u32) -> Vec<String> {
    let start = chrono::NaiveDate::parse_from_str(start, "%Y-%m-%d").unwrap();
    (0..n)
        .map(|i| (start + chrono::Duration::days(i64::from(i))).to_string())
        .collect()
}

pub fn path_str(p: &Path) -> &str {
    p.to_str().expect("utf-8 path")
}

/// The server URL (no database) from the environment variable `var` (set by
/// scripts/services.sh); a missing setting or an unreachable server fails the test: it must
/// not pass without its MariaDB.
pub async fn mysql_server(var: &str) -> String {
    use mysql_async::prelude::Queryable;
    let url = std::env::var(var).unwrap_or_else(|_| {
        panic!("{var} is not set: run the tests through scripts/test.sh, which starts MariaDB")
    });
    let pool = mysql_async::Pool::new(url.as_str());
    let mut conn = pool.get_conn().await.unwrap_or_else(|e| {
        panic!("MariaDB at {url} ({var}) is not reachable ({e}): start it with scripts/services.sh")
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

/// The Kafka broker's `host:port` from MEDLAKE_TEST_KAFKA (set by scripts/services.sh); a
/// missing setting or a broker that does not accept connections fails the test.
pub fn kafka_brokers() -> String {
    let brokers = std::env::var("MEDLAKE_TEST_KAFKA").unwrap_or_else(|_| {
        panic!("MEDLAKE_TEST_KAFKA is not set: run the tests through scripts/test.sh, which starts a broker")
    });
    std::net::TcpStream::connect(&brokers).unwrap_or_else(|e| {
        panic!("the Kafka broker at {brokers} is not reachable ({e}): start it with scripts/services.sh")
    });
    brokers
}

/// The Python that scripts/services.sh prepared (deltalake, kafka-python), from
/// MEDLAKE_TEST_PYTHON.
pub fn python() -> String {
    std::env::var("MEDLAKE_TEST_PYTHON").unwrap_or_else(|_| {
        panic!("MEDLAKE_TEST_PYTHON is not set: run the tests through scripts/test.sh, which installs it")
    })
}

/// A database dropped when the test ends, pass or fail.
pub struct TempDatabase {
    pub server: String,
    pub name: String,
}

impl TempDatabase {
    pub fn new(server: &str, purpose: &str) -> TempDatabase {
        let name = format!("medlake_test_{purpose}_{}", std::process::id());
        TempDatabase {
            server: server.to_string(),
            name,
        }
    }

    pub fn url(&self) -> String {
        format!("{}/{}", self.server, self.name)
    }
}

impl Drop for TempDatabase {
    fn drop(&mut self) {
        use mysql_async::prelude::Queryable;
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
