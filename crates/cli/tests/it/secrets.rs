//! Secrets never land: binlog capture, Maxwell JSON and Kafka leave the password hashes
//! out (a password changed after the bootstrap included), and `medlake lake
//! forget-secrets` drops the ones an older medlake landed, once, after which sync goes on.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use deltalake::arrow::array::{Array, ArrayRef, Int64Array, StringArray};
use deltalake::arrow::datatypes::{DataType, Field, FieldRef, Schema};
use deltalake::arrow::record_batch::RecordBatch;
use medlake_lake::Lake;
use mysql_async::prelude::Queryable;

use crate::cdc::{binlog_server, kafka_env, publish_and_land, query, simulate_day};
use crate::common::{self, assert_lake_equals_source, Sandbox, TempDatabase};
use crate::lake_secrets::{hex_words, secrets_in_lake};

/// Every password hash the MariaDB business database holds now.
async fn mariadb_hashes(url: &str) -> HashSet<String> {
    let pool = mysql_async::Pool::new(url);
    let mut conn = pool.get_conn().await.unwrap();
    let hashes: Vec<String> = conn
        .query("SELECT hashed_password FROM `user` UNION ALL SELECT password FROM doctor")
        .await
        .unwrap();
    drop(conn);
    pool.disconnect().await.unwrap();
    assert!(hashes.len() > 10, "the business database holds no hashes");
    assert!(
        hashes.iter().all(|h| hex_words(h).count() == 1),
        "hashes are 64 hex digits: the scans look for such words"
    );
    hashes.into_iter().collect()
}

/// Changes the password hashes of the first users and doctors, so the binlog holds
/// updates whose before and after images both carry a hash.
async fn change_passwords(url: &str) {
    let pool = mysql_async::Pool::new(url);
    let mut conn = pool.get_conn().await.unwrap();
    for sql in [
        "UPDATE `user` SET hashed_password = SHA2(CONCAT('new user ', id), 256), \
         update_time = update_time + INTERVAL 1 SECOND WHERE id <= 5",
        "UPDATE doctor SET password = SHA2(CONCAT('new doctor ', id), 256), \
         update_time = update_time + INTERVAL 1 SECOND WHERE id <= 5",
    ] {
        conn.query_drop(sql).await.unwrap();
    }
    drop(conn);
    pool.disconnect().await.unwrap();
}

/// Lines of Maxwell JSON that name a secret column or hold one of `hashes`.
fn secrets_in_maxwell(stdout: &[u8], hashes: &HashSet<String>) -> Vec<String> {
    String::from_utf8_lossy(stdout)
        .lines()
        .filter(|l| l.contains("password") || hex_words(l).any(|w| hashes.contains(w)))
        .map(|l| l.chars().take(80).collect())
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn binlog_maxwell_and_kafka_capture_land_no_password_hash() {
    let server = binlog_server().await;
    let brokers = common::kafka_brokers();
    let env = kafka_env(&brokers);
    let db = TempDatabase::new(&server, "cdc_secrets");
    let direct = Sandbox::with_business(&db.url());
    let via_kafka = Sandbox::with_business(&db.url());
    let maxwell = Sandbox::with_business(&db.url());
    simulate_day(&direct);
    let mut hashes = mariadb_hashes(&db.url()).await;
    // The bootstrap reads every row, hashes included.
    direct.run(&["cdc", "--once"]);
    publish_and_land(&via_kafka, &env);
    let mut lines = maxwell.run(&["cdc", "--once", "--to", "maxwell"]).stdout;
    // Then passwords change: before and after images of the binlog both hold a hash.
    change_passwords(&db.url()).await;
    hashes.extend(mariadb_hashes(&db.url()).await);
    direct.run(&["cdc", "--once"]);
    publish_and_land(&via_kafka, &env);
    lines.extend(maxwell.run(&["cdc", "--once", "--to", "maxwell"]).stdout);

    assert_eq!(secrets_in_maxwell(&lines, &hashes), Vec::<String>::new());
    let updates = String::from_utf8_lossy(&lines)
        .lines()
        .filter(|l| l.contains(r#""table":"user""#) && l.contains(r#""type":"update""#))
        .count();
    assert!(
        updates >= 5,
        "the password updates were not captured: {updates}"
    );
    for (path, sandbox) in [("binlog", &direct), ("kafka", &via_kafka)] {
        let lake = sandbox.lake();
        assert_eq!(
            secrets_in_lake(&lake, &hashes).await,
            Vec::<String>::new(),
            "through {path}"
        );
        let name = "ods_user_inc";
        let counted = query(
            &lake,
            name,
            &format!("SELECT count(*) FROM {name} WHERE type = 'update'"),
        )
        .await;
        let n: usize = counted[0].parse().unwrap();
        assert!(n >= 5, "through {path}: {n} user updates captured");
    }
}

/// A copy of the rows of `ods_user_full` with `hashed_password` after `id`, as a medlake
/// before "secrets never land" wrote the table.
fn with_legacy_hash(batch: &RecordBatch) -> RecordBatch {
    let schema = batch.schema();
    let mut fields: Vec<FieldRef> = Vec::new();
    let mut columns: Vec<ArrayRef> = Vec::new();
    for (field, column) in schema.fields().iter().zip(batch.columns()) {
        fields.push(field.clone());
        columns.push(column.clone());
        if field.name() == "id" {
            let ids = column.as_any().downcast_ref::<Int64Array>().unwrap();
            let hashes: Vec<String> = ids
                .values()
                .iter()
                .map(|id| format!("legacy-hash-{id}"))
                .collect();
            fields.push(Arc::new(Field::new(
                "hashed_password",
                DataType::Utf8,
                false,
            )));
            columns.push(Arc::new(StringArray::from(hashes)));
        }
    }
    RecordBatch::try_new(Arc::new(Schema::new(fields)), columns).unwrap()
}

fn log_files_naming(table: &Path, needle: &str) -> Vec<PathBuf> {
    std::fs::read_dir(table.join("_delta_log"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|f| f.is_file())
        .filter(|f| String::from_utf8_lossy(&std::fs::read(f).unwrap()).contains(needle))
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn forget_secrets_drops_landed_hashes_once_and_sync_goes_on() {
    let sandbox = Sandbox::sqlite();
    let day = "2026-05-01";
    sandbox.run(&[
        "simulate", "--days", "1", "--scale", "0.002", "--start", day,
    ]);
    sandbox.run(&["sync", "--day", day]);
    let lake = sandbox.lake();
    let name = "ods_user_full";
    let legacy: Vec<RecordBatch> = lake
        .read_table(name)
        .await
        .unwrap()
        .iter()
        .map(with_legacy_hash)
        .collect();
    let schema = legacy[0].schema();
    lake.overwrite_table(name, schema, legacy).await.unwrap();
    let table_dir = sandbox.lake_path().join(name);
    assert!(!log_files_naming(&table_dir, "hashed_password").is_empty());

    // Sync refuses the table, in one line naming the command that mends it.
    let out = sandbox.command(&["sync", "--day", day]).output().unwrap();
    assert!(
        !out.status.success(),
        "sync wrote into a table holding hashes"
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
    assert!(
        stderr.contains("ods_user_full") && stderr.contains("medlake lake forget-secrets"),
        "{stderr}"
    );

    let help = sandbox.run(&["lake", "forget-secrets", "--help"]).stdout;
    let help = String::from_utf8_lossy(&help);
    assert!(
        help.contains("vacuum") && help.contains("retention"),
        "{help}"
    );
    let first = String::from_utf8(sandbox.run(&["lake", "forget-secrets"]).stdout).unwrap();
    assert!(
        first.contains("ods_user_full: dropped hashed_password; rewrote "),
        "{first}"
    );
    assert!(first.contains("ods_user_inc: nothing to drop"), "{first}");
    assert_eq!(
        log_files_naming(&table_dir, "hashed_password"),
        Vec::<PathBuf>::new(),
        "the log still names the secret"
    );
    let fresh = Lake::open(sandbox.lake_path().to_str().unwrap(), Default::default()).unwrap();
    assert_eq!(
        secrets_in_lake(&fresh, &HashSet::new()).await,
        Vec::<String>::new()
    );
    let second = String::from_utf8(sandbox.run(&["lake", "forget-secrets"]).stdout).unwrap();
    assert!(
        second.lines().all(|l| l.ends_with("nothing to drop")),
        "{second}"
    );
    assert!(second.lines().count() >= 4, "{second}");

    sandbox.run(&["sync", "--day", day]);
    assert_lake_equals_source(&sandbox.business_url, &sandbox.lake(), day).await;
    sandbox.run(&["lake", "--partitions"]);
}
