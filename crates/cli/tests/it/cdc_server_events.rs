//! Change capture through what a production server sees: XA transactions (committed with
//! another transaction between its prepare and its commit, rolled back after its prepare,
//! and in a database capture does not follow), a session that logs statements, a session
//! with minimal row images, a zero datetime and an 18-digit amount. Capture goes on, the
//! lake (directly and through Kafka) replays MariaDB's rows except the changes the
//! documented rules exclude, and those are reported in the run record.

use std::collections::BTreeMap;

use mysql_async::prelude::Queryable;
use mysql_async::Conn;

use crate::cdc::{binlog_server, kafka_env, publish_and_land, simulate_day};
use crate::common::{
    self, assert_same, lake_latest_rows, lake_latest_rows_after_resync, source_rows, Sandbox,
    TempDatabase,
};

async fn run(conn: &mut Conn, statements: &[String]) {
    for sql in statements {
        conn.query_drop(sql)
            .await
            .unwrap_or_else(|e| panic!("{sql}: {e}"));
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn capture_goes_on_through_xa_session_settings_zero_dates_and_big_amounts() {
    let server = binlog_server().await;
    let brokers = common::kafka_brokers();
    let env = kafka_env(&brokers);
    let db = TempDatabase::new(&server, "cdc_events");
    let direct = Sandbox::with_business(&db.url());
    let via_kafka = Sandbox::with_business(&db.url());
    simulate_day(&direct);
    direct.run(&["cdc", "--once"]);
    publish_and_land(&via_kafka, &env);

    let payment = medlake_schema::table("payment").unwrap();
    let consultation = medlake_schema::table("consultation").unwrap();
    let before = source_rows(&db.url(), payment).await;
    let pool = mysql_async::Pool::new(db.url().as_str());
    let (mut conn, mut other) = (
        pool.get_conn().await.unwrap(),
        pool.get_conn().await.unwrap(),
    );
    let ids: Vec<i64> = conn
        .query("SELECT id FROM payment ORDER BY id LIMIT 5")
        .await
        .unwrap();
    let [xa_committed, xa_rolled_back, statement, minimal, between] = ids[..] else {
        panic!("the simulated day has fewer than 5 payments");
    };
    let zero_dated: i64 = conn
        .query_first("SELECT min(id) FROM consultation")
        .await
        .unwrap()
        .unwrap();
    let touch = "update_time = update_time + INTERVAL 1 SECOND";
    let other_db = format!("{}_xa", db.name);

    // XA, committed: an 18-digit amount, with another transaction committed between the
    // prepare and the commit (its rows count at the commit, after the other's).
    run(
        &mut conn,
        &[
            "XA START 'medlake-a'".into(),
            format!(
                "UPDATE payment SET payment_amount = 1234567890123456.78, {touch} WHERE id = {xa_committed}"
            ),
            "XA END 'medlake-a'".into(),
            "XA PREPARE 'medlake-a'".into(),
        ],
    )
    .await;
    run(
        &mut other,
        &[format!(
            "UPDATE payment SET payment_amount = 9999999999999999.99, {touch} WHERE id = {between}"
        )],
    )
    .await;
    run(&mut conn, &["XA COMMIT 'medlake-a'".into()]).await;
    // XA rolled back after its prepare: nothing of it may land.
    run(
        &mut conn,
        &[
            "XA START 'medlake-b'".into(),
            format!("UPDATE payment SET status = 999, {touch} WHERE id = {xa_rolled_back}"),
            "XA END 'medlake-b'".into(),
            "XA PREPARE 'medlake-b'".into(),
            "XA ROLLBACK 'medlake-b'".into(),
        ],
    )
    .await;
    // XA in a database capture does not follow.
    run(
        &mut conn,
        &[
            format!("CREATE DATABASE `{other_db}`"),
            format!("CREATE TABLE `{other_db}`.t (id INT PRIMARY KEY)"),
            "XA START 'medlake-c'".into(),
            format!("INSERT INTO `{other_db}`.t VALUES (1)"),
            "XA END 'medlake-c'".into(),
            "XA PREPARE 'medlake-c'".into(),
            "XA COMMIT 'medlake-c'".into(),
        ],
    )
    .await;
    // A session that logs statements, one with minimal row images, one that allows zero
    // dates.
    run(
        &mut conn,
        &[
            "SET SESSION binlog_format = 'STATEMENT'".into(),
            format!("UPDATE payment SET status = status + 1, {touch} WHERE id = {statement}"),
            "SET SESSION binlog_format = 'ROW'".into(),
            "SET SESSION binlog_row_image = 'MINIMAL'".into(),
            format!(
                "UPDATE payment SET payment_amount = payment_amount + 1, {touch} WHERE id = {minimal}"
            ),
            "SET SESSION binlog_row_image = 'FULL'".into(),
            "SET SESSION sql_mode = ''".into(),
            format!(
                "UPDATE consultation SET create_time = '0000-00-00 00:00:00', {touch} WHERE id = {zero_dated}"
            ),
            "SET SESSION sql_mode = DEFAULT".into(),
        ],
    )
    .await;

    // Capture runs on through all of it, both ways.
    let out = direct.run(&["cdc", "--once"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("changes not landed") && stderr.contains("payment"),
        "capture did not warn of the skipped changes: {stderr}"
    );
    publish_and_land(&via_kafka, &env);

    let excluded = [statement, minimal];
    let without = |mut rows: BTreeMap<i64, String>, table: &str| {
        if table == "payment" {
            for id in excluded {
                rows.remove(&id);
            }
        }
        rows
    };
    let (direct_lake, kafka_lake) = (direct.lake(), via_kafka.lake());
    for table in medlake_schema::business_tables()
        .iter()
        .filter(|t| t.changes)
    {
        let source = without(source_rows(&db.url(), table).await, table.name);
        for (how, lake) in [("direct", &direct_lake), ("via kafka", &kafka_lake)] {
            let landed = without(lake_latest_rows(lake, table).await, table.name);
            assert_same(format!("{how} {}", table.ods_inc_name()), &source, &landed);
        }
    }
    // The excluded changes are not invented: the lake keeps the row as it was.
    let source = source_rows(&db.url(), payment).await;
    for (how, lake) in [("direct", &direct_lake), ("via kafka", &kafka_lake)] {
        let landed = lake_latest_rows(lake, payment).await;
        for id in excluded {
            assert_ne!(source[&id], before[&id], "payment {id} did not change");
            assert_eq!(landed[&id], before[&id], "{how}: payment {id}");
        }
        // The amounts are exact to the cent, and the rolled-back change left nothing.
        assert!(
            landed[&xa_committed].contains("1234567890123456.78"),
            "{how}: {}",
            landed[&xa_committed]
        );
        assert!(landed[&between].contains("9999999999999999.99"), "{how}");
        assert_eq!(landed[&xa_rolled_back], before[&xa_rolled_back], "{how}");
    }
    let zero = &source_rows(&db.url(), consultation).await[&zero_dated];
    assert!(zero.contains("0001-01-01"), "zero date as read: {zero}");

    // The run record says what was not landed and why.
    let runs = String::from_utf8(direct.run(&["runs"]).stdout).unwrap();
    let cdc_run = runs
        .lines()
        .find(|l| l.contains(" cdc "))
        .unwrap_or_else(|| panic!("no cdc run in:\n{runs}"));
    assert!(
        cdc_run.contains("logged as a statement") && cdc_run.contains("without every column"),
        "{cdc_run}"
    );

    // The way back: a resync restates the table, and the excluded rows match the source.
    direct.run(&["cdc", "--once", "--resync", "payment"]);
    let landed = lake_latest_rows_after_resync(&direct_lake, payment).await;
    assert_same("payment after --resync".into(), &source, &landed);

    run(&mut conn, &[format!("DROP DATABASE `{other_db}`")]).await;
    drop((conn, other));
    pool.disconnect().await.unwrap();
}
